"""The Streamlit results dashboard (`streamlit run dashboard.py`): data loading and filters,
plotly figure builders, and one view per tab. Never imports torch or the models."""
