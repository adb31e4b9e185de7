-- One row per author: a surrogate key, how many best-seller rows, the average rating.
{{ config(materialized='table') }}
select
    row_number() over (order by author) as author_key,
    author,
    count(*) as books,
    avg(user_rating) as avg_rating
from {{ ref('stg_books') }}
group by author
