-- Regional activity: tweets, authors, sentiment and engagement per region and hour.
SELECT
    event_date,
    event_hour,
    region,
    count(*) AS tweet_count,
    count(DISTINCT user_id) AS unique_users,
    avg(sentiment_score) AS avg_sentiment,
    avg(engagement_score) AS avg_engagement
FROM {{ new_silver() }}
GROUP BY event_date, event_hour, region
