{% snapshot accounts_by_time %}
{{ config(strategy='timestamp', updated_at='updated_at') }}
select * from {{ source('raw', 'accounts') }}
{% endsnapshot %}

{% snapshot accounts_by_plan %}
{{ config(strategy='check', check_cols=['plan']) }}
select id, name, plan from {{ source('raw', 'accounts') }}
{% endsnapshot %}

{% snapshot accounts_all %}
{{ config(strategy='check', check_cols='all', hard_deletes='invalidate') }}
select id, name, plan from {{ source('raw', 'accounts') }}
{% endsnapshot %}

{% snapshot accounts_kept %}
{{ config(strategy='timestamp', updated_at='updated_at', hard_deletes='new_record') }}
select id, name, plan, updated_at from {{ source('raw', 'accounts') }}
{% endsnapshot %}
