-- 小区: a community managed by the customer; `online` = 已上线.
CREATE TABLE communities (
  id         BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name       VARCHAR(100) NOT NULL COMMENT '小区名称',
  online     TINYINT(1)   NOT NULL DEFAULT 0 COMMENT '是否已上线',
  created_at TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
  KEY idx_communities_online (online)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='小区';
