"""The contract suite for a partner's webhook receiver (reference §8.9): what a receiver of Wise's
notifications must do, judged by sending it real notifications, forgeries, redeliveries, test
notifications and late events, and asking what it acted on.

Its own small package, beside the client suites: the catalog (`catalog`), the adapter a receiver
implements (`adapter`), the judge's story (`judge`), a receiver that keeps every obligation
(`reference`), one broken receiver per obligation (`mutants`), receivers in other processes or
languages (`jsonlines`), and the runner (`runner`; `python -m mockwise.contracts.receiver`).
"""
