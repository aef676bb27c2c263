"""What the energy cost: tariffs and costing (PURE), the ledger, reports and their exports.

Lives here: the PURE core (tariffs: the supplier tariff and its validation; prices: price per slot; billing:
billing rates; costing: samples → slot energy, peaks; tariff_io: forms and JSON), the stored tariff admin
(tariff_store), the ledger (metering reads and costs sessions, ledger books them; demo_tariff seeds the demo),
and the energy report (report_data reads, reports figures, report_export CSV/XLSX, report_charts and
report_pdf the PDF, report_cli the `depot report` command).
May import: the pure core, depot.store and depot.people; never ocpp, control, web or layouts.
"""
