select
    id as order_id,
    customer_id,
    {{ cents('amount') }} as amount_cents,
    order_date,
    created_at,
    paid,
    status
from {{ ref('orders') }}
where amount >= {{ var('min_amount') }}
