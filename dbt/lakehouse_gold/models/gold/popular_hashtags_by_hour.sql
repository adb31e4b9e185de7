-- Trending hashtags: tweets, distinct authors, sentiment and engagement per hashtag and hour.
SELECT
    event_date,
    event_hour,
    hashtag,
    count(*) AS tweet_count,
    count(DISTINCT user_id) AS unique_users,
    avg(sentiment_score) AS avg_sentiment,
    sum(engagement_score) AS total_engagement
FROM (
    SELECT event_date, event_hour, user_id, sentiment_score, engagement_score,
           unnest(hashtags) AS hashtag
    FROM {{ new_silver() }}
) AS tagged
GROUP BY event_date, event_hour, hashtag
