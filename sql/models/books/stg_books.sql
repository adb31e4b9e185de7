-- Staging: one row per book and year, with the trimmed title and the standardised
-- author silver derived. Rows that are the same book once standardised (a padded title,
-- an author in capitals) keep their first landed copy, by the source coordinates. A
-- table, not a view: both marts read it, and the window would run once for each.
{{ config(materialized='table') }}
select name, author, user_rating, reviews, price, year, genre
from (
    select
        title as name,
        author_name as author,
        user_rating,
        reviews,
        price,
        year,
        genre,
        row_number() over (
            partition by title, author_name, year
            order by "partition", "offset", file, line
        ) as copy
    from {{ source('silver', 'books') }}
) as books
where copy = 1
