{# A generic test's body, dispatched: dbt reads only `{% test %}` blocks in
   tests/generic/, so the macros they call live in macro-paths. #}
{% macro default__test_at_least_rows(model, min_rows) %}
select count(*) as found from {{ model }} having count(*) < {{ min_rows }}
{% endmacro %}
