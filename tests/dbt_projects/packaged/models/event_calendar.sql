-- dbt's cross-database date macros, the spine through a query the package runs.
select
    e.event_id,
    {{ dbt.dateadd('day', 7, 'e.day') }} as week_later,
    {{ dbt.dateadd('month', -1, 'e.happened_at') }} as month_earlier,
    {{ dbt.datediff("'2024-01-01'", 'e.day', 'day') }} as days_in,
    {{ dbt.datediff("'2024-01-01'", 'e.day', 'week') }} as weeks_in,
    {{ dbt.datediff("'2024-01-01'", 'e.day', 'month') }} as months_in,
    {{ dbt.datediff("'2023-11-30 10:00:00'", 'e.happened_at', 'hour') }} as hours_in,
    {{ dbt.date_trunc('month', 'e.happened_at') }} as month_start,
    {{ dbt.date_trunc('week', 'e.day') }} as week_start,
    {{ dbt.last_day('e.day', 'month') }} as month_end,
    {{ dbt.last_day('e.day', 'quarter') }} as quarter_end,
    (select count(*) from ({{ helpers.days_between("cast('2024-01-01' as date)", 'cast(\'2024-01-10\' as date)') }}) spine) as spine_days
from {{ ref('events') }} e
