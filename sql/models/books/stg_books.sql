-- Staging: one row per clean silver book, with the trimmed title and the standardised
-- author silver derived.
select
    title as name,
    author_name as author,
    user_rating,
    reviews,
    price,
    year,
    genre
from {{ source('silver', 'books') }}
