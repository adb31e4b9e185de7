{# The columns of a relation but some, as dbt_utils.star does: the argument must be a
   relation (a mapping whose metadata names a Relation type). #}
{% macro star(from, except=[]) -%}
  {{ return(adapter.dispatch('star', 'helpers')(from, except)) }}
{%- endmacro %}

{% macro default__star(from, except) -%}
  {%- if not (from is mapping and from.get('metadata', {}).get('type', '').endswith('Relation')) -%}
    {{ exceptions.raise_compiler_error("helpers.star: `from` must be a relation, got " ~ from) }}
  {%- endif -%}
  {%- if not execute -%}
    {{ return('*') }}
  {%- endif -%}
  {%- set wanted = [] -%}
  {%- set skipped = {} -%}
  {%- for name in except -%}{% do skipped.update({name | lower: true}) %}{%- endfor -%}
  {%- for column in adapter.get_columns_in_relation(from) -%}
    {%- if column.name | lower not in skipped -%}
      {%- do wanted.append(adapter.quote(column.name)) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ wanted | join(', ') }}
{%- endmacro %}

{# The distinct kinds of a relation, read from the warehouse when the project runs. #}
{% macro kinds_seen(relation) %}
  {%- if not execute -%}{{ return([]) }}{%- endif -%}
  {%- set found = run_query("select distinct kind from " ~ relation ~ " order by 1") -%}
  {{ return(found.columns[0].values() | list) }}
{% endmacro %}

{# A spine of days through dbt's date_spine (which asks the warehouse how many). #}
{% macro days_between(start_date, end_date) %}
  {{ return(dbt.date_spine('day', start_date, end_date)) }}
{% endmacro %}

{# Each column of a relation as dbt's Column describes it: name, data_type, kind. #}
{% macro describe(relation) %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set parts = [] -%}
  {%- for c in adapter.get_columns_in_relation(relation) -%}
    {%- set kind = 'string' if c.is_string() else ('integer' if c.is_integer() else ('float' if c.is_float() else ('numeric' if c.is_numeric() else 'other'))) -%}
    {%- do parts.append(c.name ~ ':' ~ c.data_type ~ ':' ~ c.dtype ~ ':' ~ kind ~ ':' ~ c.is_number()) -%}
  {%- endfor -%}
  {{ return(parts | join(';')) }}
{% endmacro %}
