{% test is_positive(model, column_name) %}
select * from {{ model }} where {{ column_name }} <= 0
{% endtest %}

{% test at_least_rows(model, min_rows) %}
  {{ return(adapter.dispatch('test_at_least_rows', 'helpers')(model, min_rows)) }}
{% endtest %}
