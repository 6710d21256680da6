/**
 * `@lwlog/plot`: a dm-log-writes log, or two logs of a diff, as an SVG picture of the write
 * pattern (time across, device offset up), drawn with Vega-Lite and rendered headless by Vega.
 */
export { plotLogs, type PlotOptions, type PlotResult } from "./plot.js";
export { readPlotSeries, PLOT_KIND, type PlotSeries, type ReadSeriesOptions } from "./series.js";
export { crashRow, type CrashPointCounts, type CrashRowInput, type CrashRowDrawn } from "./crash-row.js";
