{{ config(materialized='ephemeral') }}
select * from {{ ref('int_paid_orders') }} where amount_cents >= 1000
