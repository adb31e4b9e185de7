-- Per minute, event type and source: events, distinct users, and the newest event's time
-- (how far behind the layer is).
SELECT
    event_date,
    event_hour,
    minute,
    event_type,
    source,
    count(*) AS events,
    count(DISTINCT user_id) AS users,
    max(event_at) AS last_event_at
FROM silver
GROUP BY event_date, event_hour, minute, event_type, source
