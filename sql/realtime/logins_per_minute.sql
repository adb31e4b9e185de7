-- Logins per minute and source.
SELECT event_date, event_hour, minute, source, count(*) AS logins
FROM silver
WHERE event_type = 'login'
GROUP BY event_date, event_hour, minute, source
