{# The project's own form of a helpers macro: the dispatch search order puts the
   project first. #}
{% macro default__unit_label() %}'euros'{% endmacro %}
