{#- The silver rows a gold model's build reads, as `silver`: all of them the first time,
    then the event dates from the newest one the model has onwards (delete+insert then
    replaces exactly those dates). -#}
{% macro new_silver() %}
(
    select * from {{ source('silver', 'tweets') }}
    {% if is_incremental() %}
    where event_date >= (select max(event_date) from {{ this }})
    {% endif %}
) as silver
{% endmacro %}
