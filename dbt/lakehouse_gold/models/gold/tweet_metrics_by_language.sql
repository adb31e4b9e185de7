-- Language metrics: volume, average length, sentiment mix and engagement per language and day.
SELECT
    event_date,
    language,
    count(*) AS tweet_count,
    avg(text_length) AS avg_text_length,
    avg(sentiment_score) AS avg_sentiment,
    sum(CASE WHEN sentiment_category = 'positive' THEN 1 ELSE 0 END) AS positive_tweets,
    sum(CASE WHEN sentiment_category = 'neutral' THEN 1 ELSE 0 END) AS neutral_tweets,
    sum(CASE WHEN sentiment_category = 'negative' THEN 1 ELSE 0 END) AS negative_tweets,
    avg(engagement_score) AS avg_engagement,
    sum(engagement_score) AS total_engagement
FROM {{ new_silver() }}
GROUP BY event_date, language
