select count(*) as big_orders from {{ ref('int_big_paid_orders') }}
