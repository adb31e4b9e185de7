select * from {{ ref('customer_totals') }} where orders < big_orders
