-- One row per book and year, with its author's key.
{{ config(materialized='table') }}
select
    s.name,
    s.year,
    d.author_key,
    s.user_rating,
    s.reviews,
    s.price,
    s.genre
from {{ ref('stg_books') }} s
join {{ ref('dim_author') }} d on d.author = s.author
