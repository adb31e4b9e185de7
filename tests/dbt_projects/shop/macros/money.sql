{% macro cents(column) -%}
  cast(round({{ column }} * 100) as integer)
{%- endmacro %}

{# A value, not text: callers get a list back. #}
{% macro order_columns() %}
  {{ return(['order_id', 'customer_id', 'amount_cents']) }}
{% endmacro %}

{% macro in_brackets() -%}
  ({{ caller() }})
{%- endmacro %}

{% macro label(text) %}
  {{ return(adapter.dispatch('label')(text)) }}
{% endmacro %}

{% macro default__label(text) %}'any:{{ text }}'{% endmacro %}

{% macro postgres__label(text) %}'pg:' || upper('{{ text }}'){% endmacro %}
