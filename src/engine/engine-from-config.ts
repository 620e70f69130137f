import type { FastifyBaseLogger } from 'fastify';
import { artifactsFromConfig } from '../artifacts/artifacts.js';
import type { WeftConfig } from '../config.js';
import { egressPolicyFromConfig } from '../egress/egress-policy.js';
import { configureExpressionLimits } from '../expressions/index.js';
import { configureForEach } from '../items/for-each.js';
import { SecretVault } from '../secrets/secret-vault.js';
import type { Store } from '../store/store.js';
import type { TaskTypeRegistry } from '../tasks/registry.js';
import { Engine } from './engine.js';

/**
 * An engine configured from `WEFT_*` settings (used by `weft serve` and the tests alike). It also
 * sets the process's expression limits, which the engine and the API's triggers evaluate under.
 */
export function engineFromConfig(
  store: Store,
  taskTypes: TaskTypeRegistry,
  logger: FastifyBaseLogger,
  config: Pick<
    WeftConfig,
    | 'llmBaseUrl'
    | 'llmApiKey'
    | 'llmModel'
    | 'workerConcurrency'
    | 'pollIntervalMs'
    | 'leaseMs'
    | 'expressionTimeoutMs'
    | 'expressionMaxDepth'
    | 'nodeId'
    | 'egressAllow'
    | 'egressDeny'
    | 'egressPrivate'
    | 'httpMaxResponseBytes'
    | 'httpDefaultTimeoutMs'
    | 'defaultStepTimeoutSeconds'
    | 'workspaceSlotShare'
    | 'secretsKey'
    | 'maxWorkflowDepth'
    | 'forEachMaxItems'
    | 'maxOutputBytes'
    | 'artifactsDir'
    | 'artifactMaxBytes'
    | 'pgOneStatementSettle'
  >,
): Engine {
  configureExpressionLimits({ timeoutMs: config.expressionTimeoutMs, maxDepth: config.expressionMaxDepth });
  configureForEach({ maxItems: config.forEachMaxItems });
  return new Engine({
    store,
    taskTypes,
    logger,
    config: {
      llmBaseUrl: config.llmBaseUrl,
      llmApiKey: config.llmApiKey,
      llmModel: config.llmModel,
      egress: egressPolicyFromConfig(config),
      httpMaxResponseBytes: config.httpMaxResponseBytes,
      httpDefaultTimeoutMs: config.httpDefaultTimeoutMs,
      defaultStepTimeoutSeconds: config.defaultStepTimeoutSeconds,
    },
    concurrency: config.workerConcurrency,
    workspaceSlotShare: config.workspaceSlotShare,
    secrets: new SecretVault(config.secretsKey),
    pollMs: config.pollIntervalMs,
    leaseMs: config.leaseMs,
    nodeId: config.nodeId,
    maxWorkflowDepth: config.maxWorkflowDepth,
    maxOutputBytes: config.maxOutputBytes,
    artifacts: artifactsFromConfig(store, config),
    settleInOneStatement: config.pgOneStatementSettle,
  });
}
