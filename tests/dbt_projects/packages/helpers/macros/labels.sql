{# Dispatched macros a project or another package may override. #}
{% macro unit_label() -%}
  {{ return(adapter.dispatch('unit_label', 'helpers')()) }}
{%- endmacro %}

{% macro default__unit_label() %}'units'{% endmacro %}

{% macro greeting() -%}
  {{ return(adapter.dispatch('greeting', 'helpers')()) }}
{%- endmacro %}

{% macro default__greeting() %}'hello'{% endmacro %}

{# A value, not text. #}
{% macro factor() %}
  {{ return(2) }}
{% endmacro %}

{% macro parenthesised() -%}
  ({{ caller() }})
{%- endmacro %}
