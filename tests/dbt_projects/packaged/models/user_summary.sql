-- dbt's aggregate and set macros, and a value a package macro reads from the warehouse.
with per_user as (
    select
        coalesce(user_name, '?') as user_name,
        {{ dbt.listagg('kind', "', '", 'order by event_id') }} as kinds,
        {{ dbt.listagg('kind', "'|'", 'order by event_id', 1) }} as first_kind,
        {{ dbt.any_value('user_name') }} as any_name,
        {{ dbt.bool_or("kind = 'buy'") }} as bought
    from {{ ref('events') }}
    group by 1
),
buyers as (
    select user_name from per_user where bought
    {{ dbt.except() }}
    select user_name from per_user where kinds not like '%click%'
)
select
    p.*,
    b.user_name is not null as buyer_who_clicked,
    {{ helpers.kinds_seen(ref('events')) | length }} as kinds_in_all,
    '{{ helpers.kinds_seen(ref('events')) | join(",") }}' as all_kinds
from per_user p
-- A join, not `in (select ...)` in the select list: DataFusion (the lake) takes a
-- subquery there only when it gives one value.
left join buyers b on b.user_name = p.user_name
