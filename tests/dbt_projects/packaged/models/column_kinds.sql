-- The columns of a built model as the package sees them through dbt's Column.
select '{{ helpers.describe(ref('event_strings')) }}' as described
