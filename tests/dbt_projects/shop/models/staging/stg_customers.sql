select
    id as customer_id,
    initcap(trim(name)) as name,
    country,
    since,
    coalesce(score, 0) as score,
    '{{ env_var("SHOP_REGION", "eu") }}' as region,
    '{{ var("currency") }}' as currency
from {{ ref('customers') }}
