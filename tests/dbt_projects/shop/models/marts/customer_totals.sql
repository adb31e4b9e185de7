{{ config(tags=['finance']) }}
with big as (
    select customer_id, count(*) as big_orders from {{ ref('int_big_paid_orders') }} group by customer_id
)
select
    c.customer_id,
    c.name,
    k.name as country_name,
    k.eu,
    coalesce(b.big_orders, 0) as big_orders,
    {{ label('total') }} as label,
    (select count(*) from {% call in_brackets() %}select {{ order_columns() | join(', ') }} from {{ ref('stg_orders') }}{% endcall %} o
      where o.customer_id = c.customer_id) as orders
from {{ ref('stg_customers') }} c
left join {{ ref('countries') }} k on k.code = c.country
left join big b on b.customer_id = c.customer_id
