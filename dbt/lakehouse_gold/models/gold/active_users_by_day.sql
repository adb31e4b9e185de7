-- Daily active users: distinct authors, verified authors, tweets and tweets per author.
SELECT
    event_date,
    count(DISTINCT user_id) AS active_users,
    count(DISTINCT CASE WHEN verified THEN user_id END) AS verified_active_users,
    count(*) AS tweet_count,
    CAST(count(*) AS DOUBLE) / count(DISTINCT user_id) AS tweets_per_user,
    sum(engagement_score) AS total_engagement
FROM {{ new_silver() }}
GROUP BY event_date
