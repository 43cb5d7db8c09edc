{% macro pii_hash_key() -%}
    {#- The key of every PII hash. A fixed development default keeps local builds reproducible;
        production sets TALLY_PII_HASH_KEY to a secret, so hashes cannot be recomputed from a
        list of guessed emails by anyone who does not hold it. -#}
    {{ return(env_var('TALLY_PII_HASH_KEY', 'tally-development-key-not-secret')) }}
{%- endmacro %}
