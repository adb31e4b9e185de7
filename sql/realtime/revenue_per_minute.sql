-- Purchases and revenue per minute.
SELECT event_date, event_hour, minute, count(*) AS purchases, sum(amount) AS revenue
FROM silver
WHERE event_type = 'purchase'
GROUP BY event_date, event_hour, minute
