{#- The warehouse read while rendering: run_query, a statement block, the columns of a relation. -#}
{%- set found = run_query("select distinct status from " ~ ref('stg_orders') ~ " order by 1") -%}
{%- set statuses = found.columns[0].values() if execute else [] -%}
{%- call statement('total', fetch_result=True) -%}
    select count(*) as n from {{ ref('stg_orders') }}
{%- endcall -%}
{%- set total = load_result('total')['data'][0][0] if execute else 0 -%}
{%- set customer_columns = adapter.get_columns_in_relation(ref('stg_customers')) -%}
select
    customer_id,
    {% for status in statuses -%}
    sum(case when status = '{{ status }}' then 1 else 0 end) as {{ status }}_orders,
    {% endfor -%}
    {{ total }} as all_orders,
    '{{ customer_columns | map(attribute="name") | join(",") }}' as customer_columns
from {{ ref('stg_orders') }}
group by customer_id
