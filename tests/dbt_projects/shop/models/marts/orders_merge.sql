{{ config(materialized='incremental', unique_key=['order_id'], incremental_strategy='merge') }}
select order_id, status, amount_cents from {{ ref('stg_orders') }}
