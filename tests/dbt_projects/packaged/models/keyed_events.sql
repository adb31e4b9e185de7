-- Package macros by namespace, a value returned by a dispatched macro, and the
-- package's call-block wrapper.
select
    event_id,
    {{ helpers.surrogate_key(['user_name', 'kind', 'event_id']) }} as event_key,
    {{ helpers.unit_label() }} as unit,
    {{ helpers.greeting() }} as greeting,
    {% call helpers.parenthesised() %}amount * {{ helpers.factor() }}{% endcall %} as doubled,
    {{ helpers.star(ref('events'), except=['event_id', 'path', 'happened_at']) }}
from {{ ref('events') }}
