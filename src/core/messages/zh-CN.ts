/** The message catalog, zh-CN: the same codes and placeholders as en-US. */
import type { ApiMessageCode } from './en-US';

export const zhCN: Record<ApiMessageCode, string> = {
  'api.unauthorized': '需要有效的 Bearer 令牌',
  'api.forbidden.admin': '此操作需要管理员令牌',
  'api.too_many_requests': '每秒请求超过 {rate} 次：请在 {seconds} 秒后重试',
  'api.not_found': '不存在：{what}',
  'api.not_found.route': '没有路由 {method} {path}',
  'api.tenant_needed': 'tenant：管理员令牌须指明租户（?tenant=…）',
  'api.tenant_needed.body': 'tenant：管理员令牌须指明该连接所属的租户',
  'api.limit': 'limit：应为 1 到 1000 之间的整数',
  'api.since': 'since：应为 ISO-8601 时间',
  'api.body_not_json': '请求体不是 JSON：{reason}',
  'api.invalid_field': '{field}：{reason}',
  'api.body_too_large': '请求体超过 {limit} 字节的上限',
  'api.run_not_running': '运行 {run} 的状态为 {status}，不在本服务中运行',
  'api.run_under_way': '流水线 {pipeline} 正在运行',
  'api.connection_exists': '租户 {tenant} 已有名为 {name} 的连接',
  'api.secrets_unavailable': '凭据不可用：{reason}',
  'what.pipeline': '流水线 {name}',
  'what.export': '导出 {id}',
  'what.sync_pipeline': '同步管道 {name}',
  'what.conflict': '{pipeline} 中的冲突 {id}',
  'api.conflict_status': 'status：应为 {statuses} 中的一个或多个，用逗号分隔',
  'what.run': '运行 {id}',
  'what.source': '数据源 {id}',
  'what.pipeline_source': '流水线 {pipeline} 中的数据源 {source}',
};
