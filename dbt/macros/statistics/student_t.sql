{#-
    The 0.975 quantile of Student's t distribution (two-sided 95 percent interval) at
    degrees of freedom that may be fractional (Welch-Satterthwaite), in portable SQL.

    No portable SQL has the t quantile (it needs the inverse regularized incomplete beta
    function), so scipy computes it where a library should, once: the grid below is
    scipy.stats.t.ppf(0.975, df) at 74 values of df from 1 to 30, written by
    scripts/student_t_grid.py and checked against scipy by tests/test_student_t.py.
    Between two grid points log t is interpolated linearly in log df; from 30 degrees of
    freedom on, the Cornish-Fisher expansion of t in powers of 1/df (four terms, Abramowitz
    and Stegun 26.7.5) is used. Both stay within 0.1 percent of scipy everywhere (the test
    checks a fine grid). Below 1 degree of freedom (not reached: a Satterthwaite df is at
    least the smallest of its parts, each at least 1) the df = 1 value is used.
-#}
{% macro student_t_975_grid() -%}
    (
        select 1 as df_low, 1.05 as df_high, 12.7062047362 as t_low, 11.3619076687 as t_high
        union all select 1.05 as df_low, 1.1 as df_high, 11.3619076687 as t_low, 10.2768012863 as t_high
        union all select 1.1 as df_low, 1.15 as df_high, 10.2768012863 as t_low, 9.3874941016 as t_high
        union all select 1.15 as df_low, 1.2 as df_high, 9.3874941016 as t_low, 8.6488265107 as t_high
        union all select 1.2 as df_low, 1.25 as df_high, 8.6488265107 as t_low, 8.0279513773 as t_high
        union all select 1.25 as df_low, 1.3 as df_high, 8.0279513773 as t_low, 7.5005293256 as t_high
        union all select 1.3 as df_low, 1.35 as df_high, 7.5005293256 as t_low, 7.0482218962 as t_high
        union all select 1.35 as df_low, 1.4 as df_high, 7.0482218962 as t_low, 6.6570025687 as t_high
        union all select 1.4 as df_low, 1.45 as df_high, 6.6570025687 as t_low, 6.3159956223 as t_high
        union all select 1.45 as df_low, 1.5 as df_high, 6.3159956223 as t_low, 6.0166631044 as t_high
        union all select 1.5 as df_low, 1.55 as df_high, 6.0166631044 as t_low, 5.7522259470 as t_high
        union all select 1.55 as df_low, 1.6 as df_high, 5.7522259470 as t_low, 5.5172454388 as t_high
        union all select 1.6 as df_low, 1.65 as df_high, 5.5172454388 as t_low, 5.3073163497 as t_high
        union all select 1.65 as df_low, 1.7 as df_high, 5.3073163497 as t_low, 5.1188389883 as t_high
        union all select 1.7 as df_low, 1.75 as df_high, 5.1188389883 as t_low, 4.9488478491 as t_high
        union all select 1.75 as df_low, 1.8 as df_high, 4.9488478491 as t_low, 4.7948813652 as t_high
        union all select 1.8 as df_low, 1.85 as df_high, 4.7948813652 as t_low, 4.6548818783 as t_high
        union all select 1.85 as df_low, 1.9 as df_high, 4.6548818783 as t_low, 4.5271180771 as t_high
        union all select 1.9 as df_low, 1.95 as df_high, 4.5271180771 as t_low, 4.4101243140 as t_high
        union all select 1.95 as df_low, 2 as df_high, 4.4101243140 as t_low, 4.3026527297 as t_high
        union all select 2 as df_low, 2.1 as df_high, 4.3026527297 as t_low, 4.1121527582 as t_high
        union all select 2.1 as df_low, 2.2 as df_high, 4.1121527582 as t_low, 3.9487207497 as t_high
        union all select 2.2 as df_low, 2.3 as df_high, 3.9487207497 as t_low, 3.8071632082 as t_high
        union all select 2.3 as df_low, 2.4 as df_high, 3.8071632082 as t_low, 3.6835042897 as t_high
        union all select 2.4 as df_low, 2.5 as df_high, 3.6835042897 as t_low, 3.5746548420 as t_high
        union all select 2.5 as df_low, 2.6 as df_high, 3.5746548420 as t_low, 3.4781824107 as t_high
        union all select 2.6 as df_low, 2.7 as df_high, 3.4781824107 as t_low, 3.3921483832 as t_high
        union all select 2.7 as df_low, 2.8 as df_high, 3.3921483832 as t_low, 3.3149906990 as t_high
        union all select 2.8 as df_low, 2.9 as df_high, 3.3149906990 as t_low, 3.2454380624 as t_high
        union all select 2.9 as df_low, 3 as df_high, 3.2454380624 as t_low, 3.1824463053 as t_high
        union all select 3 as df_low, 3.1 as df_high, 3.1824463053 as t_low, 3.1251505669 as t_high
        union all select 3.1 as df_low, 3.2 as df_high, 3.1251505669 as t_low, 3.0728289297 as t_high
        union all select 3.2 as df_low, 3.3 as df_high, 3.0728289297 as t_low, 3.0248744618 as t_high
        union all select 3.3 as df_low, 3.4 as df_high, 3.0248744618 as t_low, 2.9807735026 as t_high
        union all select 3.4 as df_low, 3.5 as df_high, 2.9807735026 as t_low, 2.9400886380 as t_high
        union all select 3.5 as df_low, 3.6 as df_high, 2.9400886380 as t_low, 2.9024452357 as t_high
        union all select 3.6 as df_low, 3.7 as df_high, 2.9024452357 as t_low, 2.8675207072 as t_high
        union all select 3.7 as df_low, 3.8 as df_high, 2.8675207072 as t_low, 2.8350358793 as t_high
        union all select 3.8 as df_low, 3.9 as df_high, 2.8350358793 as t_low, 2.8047480114 as t_high
        union all select 3.9 as df_low, 4 as df_high, 2.8047480114 as t_low, 2.7764451052 as t_high
        union all select 4 as df_low, 4.25 as df_high, 2.7764451052 as t_low, 2.7132058471 as t_high
        union all select 4.25 as df_low, 4.5 as df_high, 2.7132058471 as t_low, 2.6589123472 as t_high
        union all select 4.5 as df_low, 4.75 as df_high, 2.6589123472 as t_low, 2.6118130924 as t_high
        union all select 4.75 as df_low, 5 as df_high, 2.6118130924 as t_low, 2.5705818356 as t_high
        union all select 5 as df_low, 5.25 as df_high, 2.5705818356 as t_low, 2.5341968005 as t_high
        union all select 5.25 as df_low, 5.5 as df_high, 2.5341968005 as t_low, 2.5018586176 as t_high
        union all select 5.5 as df_low, 5.75 as df_high, 2.5018586176 as t_low, 2.4729333059 as t_high
        union all select 5.75 as df_low, 6 as df_high, 2.4729333059 as t_low, 2.4469118511 as t_high
        union all select 6 as df_low, 6.25 as df_high, 2.4469118511 as t_low, 2.4233810304 as t_high
        union all select 6.25 as df_low, 6.5 as df_high, 2.4233810304 as t_low, 2.4020020079 as t_high
        union all select 6.5 as df_low, 6.75 as df_high, 2.4020020079 as t_low, 2.3824944002 as t_high
        union all select 6.75 as df_low, 7 as df_high, 2.3824944002 as t_low, 2.3646242516 as t_high
        union all select 7 as df_low, 7.25 as df_high, 2.3646242516 as t_low, 2.3481948491 as t_high
        union all select 7.25 as df_low, 7.5 as df_high, 2.3481948491 as t_low, 2.3330396269 as t_high
        union all select 7.5 as df_low, 7.75 as df_high, 2.3330396269 as t_low, 2.3190166271 as t_high
        union all select 7.75 as df_low, 8 as df_high, 2.3190166271 as t_low, 2.3060041352 as t_high
        union all select 8 as df_low, 9 as df_high, 2.3060041352 as t_low, 2.2621571628 as t_high
        union all select 9 as df_low, 10 as df_high, 2.2621571628 as t_low, 2.2281388520 as t_high
        union all select 10 as df_low, 11 as df_high, 2.2281388520 as t_low, 2.2009851601 as t_high
        union all select 11 as df_low, 12 as df_high, 2.2009851601 as t_low, 2.1788128297 as t_high
        union all select 12 as df_low, 13 as df_high, 2.1788128297 as t_low, 2.1603686565 as t_high
        union all select 13 as df_low, 14 as df_high, 2.1603686565 as t_low, 2.1447866879 as t_high
        union all select 14 as df_low, 15 as df_high, 2.1447866879 as t_low, 2.1314495456 as t_high
        union all select 15 as df_low, 16 as df_high, 2.1314495456 as t_low, 2.1199052992 as t_high
        union all select 16 as df_low, 17 as df_high, 2.1199052992 as t_low, 2.1098155778 as t_high
        union all select 17 as df_low, 18 as df_high, 2.1098155778 as t_low, 2.1009220402 as t_high
        union all select 18 as df_low, 19 as df_high, 2.1009220402 as t_low, 2.0930240544 as t_high
        union all select 19 as df_low, 20 as df_high, 2.0930240544 as t_low, 2.0859634473 as t_high
        union all select 20 as df_low, 22 as df_high, 2.0859634473 as t_low, 2.0738730679 as t_high
        union all select 22 as df_low, 24 as df_high, 2.0738730679 as t_low, 2.0638985616 as t_high
        union all select 24 as df_low, 26 as df_high, 2.0638985616 as t_low, 2.0555294386 as t_high
        union all select 26 as df_low, 28 as df_high, 2.0555294386 as t_low, 2.0484071418 as t_high
        union all select 28 as df_low, 30 as df_high, 2.0484071418 as t_low, 2.0422724563 as t_high
    )
{%- endmacro %}

{#- df: the degrees-of-freedom expression; grid: the alias of student_t_975_grid() joined
    on df_low <= df < df_high (null from 30 on). -#}
{% macro student_t_975(df, grid) -%}
    case
        when {{ df }} is null then null
        when {{ df }} < 1 then 12.7062047362
        when {{ df }} >= 30 then
            {%- set z = 1.959963984540054 %}
            {{ z }}
            + ({{ z ** 3 + z }}) / {{ df }}  / 4
            + ({{ 5 * z ** 5 + 16 * z ** 3 + 3 * z }}) / ({{ df }} * {{ df }}) / 96
            + ({{ 3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z }})
                / ({{ df }} * {{ df }} * {{ df }}) / 384
            + ({{ 79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z }})
                / ({{ df }} * {{ df }} * {{ df }} * {{ df }}) / 92160
        else exp(
            ln({{ grid }}.t_low)
            + (ln({{ df }}) - ln({{ grid }}.df_low)) / (ln({{ grid }}.df_high) - ln({{ grid }}.df_low))
                * (ln({{ grid }}.t_high) - ln({{ grid }}.t_low))
        )
    end
{%- endmacro %}
