-- Orders whose customer is not in the customers seed.
{{ config(severity='warn') }}
select o.order_id
from {{ ref('stg_orders') }} o
left join {{ ref('stg_customers') }} c using (customer_id)
where c.customer_id is null
