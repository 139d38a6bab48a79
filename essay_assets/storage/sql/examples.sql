-- Example queries over the warehouse: run one with
--   essays sql "$(python -m essay_assets.storage.sql_examples spend_per_model_per_month)"
-- or paste it into `duckdb data/essays.duckdb`. Months and days are in UTC.
-- Each example starts with a `-- name: <name>` line; the lines after it, up to the next
-- `-- name:` line, are its SQL (and `--` comments describing it).

-- name: spend_per_model_per_month
-- What every model cost per calendar month, over every call (chunk calls and failed
-- calls included). unknown_cost_calls: calls whose price nobody knew (cost_usd is null).
SELECT
    strftime(date_trunc('month', created_at AT TIME ZONE 'UTC'), '%Y-%m') AS month,
    model_requested AS model,
    count(*) AS calls,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    round(sum(cost_usd), 4) AS cost_usd,
    count(*) FILTER (WHERE cost_usd IS NULL) AS unknown_cost_calls
FROM llm_calls
GROUP BY ALL
ORDER BY month, cost_usd DESC NULLS LAST, model;

-- name: most_expensive_essays
-- The 20 costliest essays (every prompt revision), with what they cost in dollars.
SELECT
    video_id,
    prompt_revision,
    llm_model,
    video_title,
    call_count,
    total_tokens,
    round(estimated_cost_cents / 100, 4) AS cost_usd
FROM essays
WHERE estimated_cost_cents IS NOT NULL
ORDER BY estimated_cost_cents DESC, video_id
LIMIT 20;

-- name: essays_per_prompt_revision
-- How many essays each system prompt revision produced, and what they cost.
SELECT
    prompt_revision,
    count(*) AS essays,
    count(DISTINCT llm_model) AS models,
    round(sum(estimated_cost_cents) / 100, 4) AS cost_usd,
    round(avg(essay_word_count), 1) AS avg_essay_words,
    min(created_at) AS first_essay,
    max(created_at) AS last_essay
FROM essays
GROUP BY prompt_revision
ORDER BY prompt_revision;

-- name: failures_by_reason
-- What went wrong, where, how often, and when it last happened.
SELECT
    stage,
    reason,
    count(*) AS failures,
    count(DISTINCT video_id) AS videos,
    max(failed_at) AS last_failed_at
FROM failures
GROUP BY stage, reason
ORDER BY failures DESC, stage, reason;

-- name: tokens_per_transcript_word
-- Average input tokens the model read per transcript word (map-reduce chunk calls
-- included), per model: a ratio of sums, so long transcripts weigh more.
SELECT
    llm_model AS model,
    count(*) AS essays,
    sum(transcript_word_count) AS transcript_words,
    sum(input_tokens) AS input_tokens,
    round(sum(input_tokens) / sum(transcript_word_count), 3) AS input_tokens_per_word,
    round(sum(total_tokens) / sum(transcript_word_count), 3) AS total_tokens_per_word
FROM current_essays
WHERE transcript_word_count > 0
GROUP BY llm_model
ORDER BY llm_model;

-- name: last_month_cost_per_model
-- What the essays created last calendar month (UTC) cost, per model.
SELECT
    llm_model AS model,
    count(*) AS essays,
    round(sum(estimated_cost_cents) / 100, 4) AS cost_usd,
    count(*) FILTER (WHERE estimated_cost_cents IS NULL) AS essays_with_unknown_cost
FROM essays
WHERE created_at AT TIME ZONE 'UTC' >= date_trunc('month', now() AT TIME ZONE 'UTC') - INTERVAL 1 MONTH
  AND created_at AT TIME ZONE 'UTC' < date_trunc('month', now() AT TIME ZONE 'UTC')
GROUP BY llm_model
ORDER BY cost_usd DESC NULLS LAST, model;

-- name: essays_whose_model_invented_quotes
-- Per model, over the current essays: the quotations their drafts held and what became of them
-- (README "How quotes are verified"). A quotation is invented when the drafted words were not
-- the speakers' own: repaired, unquoted or removed. Rows of an essay's current publication share
-- its run_id; quotations a re-write added (no drafted_text) are not counted as drafted.
SELECT
    e.llm_model AS model,
    count(DISTINCT e.video_id) AS essays,
    count(DISTINCT e.video_id) FILTER (WHERE q.verdict <> 'verified') AS essays_with_invented_quotes,
    count(q.quote_index) AS quotations_drafted,
    count(q.quote_index) FILTER (WHERE q.verdict = 'verified') AS verified,
    count(q.quote_index) FILTER (WHERE q.verdict = 'repaired') AS repaired,
    count(q.quote_index) FILTER (WHERE q.verdict IN ('unquoted', 'removed')) AS removed_or_unquoted,
    round(count(q.quote_index) FILTER (WHERE q.verdict <> 'verified')
          / nullif(count(q.quote_index), 0), 3) AS share_invented
FROM current_essays e
LEFT JOIN quotes q
    ON q.response_id = e.response_id AND q.run_id = e.run_id AND q.drafted_text IS NOT NULL
GROUP BY e.llm_model
ORDER BY share_invented DESC NULLS LAST, model;
