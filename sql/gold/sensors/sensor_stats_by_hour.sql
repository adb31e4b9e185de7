-- Per sensor and hour: how many readings, and the min/avg/max of each measure.
SELECT
    reading_date,
    reading_hour,
    sensor_id,
    max(device_type) AS device_type,
    max(location) AS location,
    count(*) AS readings,
    min(temperature) AS min_temperature,
    avg(temperature) AS avg_temperature,
    max(temperature) AS max_temperature,
    min(humidity) AS min_humidity,
    avg(humidity) AS avg_humidity,
    max(humidity) AS max_humidity,
    min(pressure) AS min_pressure,
    avg(pressure) AS avg_pressure,
    max(pressure) AS max_pressure,
    min(battery) AS min_battery
FROM silver
GROUP BY reading_date, reading_hour, sensor_id
