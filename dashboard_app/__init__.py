"""The Streamlit results dashboard (`streamlit run dashboard.py`): data loading, filters and
point keys (data), the store-level caches (cache), what a chart line is (series) and its log
ticks (ticks), plotly figure builders (charts: scaling, decode, achieved; charts_swarm,
charts_quality, charts_runs), the Runs and History data (runs, history), one point's record
(point) and the command that measures it again (reproduce), and the views (views, views_quality,
views_runs, views_table, views_point: the drill-down and the Point view). Never imports the
models; torch only when the Quality view is first shown (harness.quality.synthetic_tasks needs it)."""
