// "Tracing to a no-op exporter" for the benchmark's everything-on Tandem: loaded with --require,
// it makes the OTLP/HTTP trace exporter that observability/tracing.ts builds accept every batch
// and send nothing. Spans are still created, recorded, batched and handed to the exporter; only
// serialization and the HTTP request are skipped (`npm run bench -- --exporter sink` keeps them,
// exporting to a local endpoint that discards what it receives).
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
OTLPTraceExporter.prototype.export = function exportNothing(_spans, resultCallback) {
  resultCallback({ code: 0 }); // ExportResultCode.SUCCESS
};
