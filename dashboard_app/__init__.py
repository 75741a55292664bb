"""The Streamlit results dashboard (`streamlit run dashboard.py`): data loading and filters
(data), the store-level caches (cache), plotly figure builders (charts), the Runs and History
data (runs, history), and one function per view (views, views_runs). Never imports the models;
torch only when the Quality view is first shown (harness.quality.synthetic_tasks needs it)."""
