"""The run report: its data (``data.report_json``) and its self-contained HTML page (``html.write_html_report``)."""
