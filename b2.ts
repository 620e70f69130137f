import { benchEngineShapes } from './bench/engine-shapes.ts';
for (const b of ['sqlite','postgres'] as const) for (const r of await benchEngineShapes(b)) console.log(b, r.shape, r.steps, r.totalMs.toFixed(1), (r.totalMs / r.steps).toFixed(3), Math.round(r.steps / r.totalMs * 1000));
