{# A key of several columns: NULL-safe, hashed, through dbt's cross-database macros. #}
{% macro surrogate_key(fields) -%}
  {{ return(adapter.dispatch('surrogate_key', 'helpers')(fields)) }}
{%- endmacro %}

{% macro default__surrogate_key(fields) -%}
  {%- set parts = [] -%}
  {%- for field in fields -%}
    {%- do parts.append("coalesce(cast(" ~ field ~ " as " ~ dbt.type_string() ~ "), " ~ dbt.string_literal(var('key_null', '_null_')) ~ ")") -%}
    {%- if not loop.last %}{% do parts.append(dbt.string_literal('-')) %}{% endif -%}
  {%- endfor -%}
  {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}
