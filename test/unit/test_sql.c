/* Unit tests for the SQL lexer and statement classifier (src/sql/).
 *
 * Every classifier case is run on an exact-size heap copy of its text (no
 * terminating NUL), so a sanitizer build catches any read past the end.
 * The last line printed is "N passed, N failed"; the exit status is
 * non-zero when anything failed. */
#include "ringmux/sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "unit.h"

/* Short names for the flags, to keep the table readable. */
#define W   CLS_WRITE
#define TB  CLS_TXN_BEGIN
#define TE  CLS_TXN_END
#define ST  CLS_SET_TRACKED
#define CS  CLS_SET_CHARSET
#define TO  CLS_TXN_ONESHOT
#define US  CLS_USE
#define LI  CLS_LAST_INSERT_ID
#define RC  CLS_ROW_COUNT
#define FR  CLS_FOUND_ROWS
#define INS CLS_INSERT
#define LL  CLS_LOAD_LOCAL
#define DG  CLS_DIAGNOSTICS
#define MU  CLS_MULTI
#define SG  CLS_SET_GLOBAL
#define KL  CLS_KILL
#define EM  CLS_EMPTY

/* One classifier case. */
struct cls_case {
    const char *sql;  /* the COM_QUERY text */
    uint32_t flags;   /* expected flags, compared under mask */
    enum cls_pin pin; /* expected first pin reason */
    int n;            /* expected n_stmts */
    uint32_t mask;    /* flag bits compared; 0 means all of them */
};

/* Rows leave mask out (zero: compare all flags). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct cls_case cls_cases[] = {
    /* plain reads */
    {"SELECT 1", 0, PIN_NONE, 1},
    {"select * from t where a = 1", 0, PIN_NONE, 1},
    {"  SeLeCt 1  ", 0, PIN_NONE, 1},
    {"SELECT 1;", 0, PIN_NONE, 1},
    {"(SELECT 1) UNION (SELECT 2)", 0, PIN_NONE, 1},
    {"((SELECT 1))", 0, PIN_NONE, 1},
    {"SELECT 1 FROM dual", 0, PIN_NONE, 1},
    {"SELECT a, COUNT(*) FROM t GROUP BY a HAVING COUNT(*) > 1", 0, PIN_NONE, 1},
    {"SHOW TABLES", 0, PIN_NONE, 1},
    {"SHOW FULL PROCESSLIST", 0, PIN_NONE, 1},
    {"SHOW CREATE TABLE t", 0, PIN_NONE, 1},
    {"SHOW GLOBAL STATUS LIKE 'Threads%'", 0, PIN_NONE, 1},
    {"SHOW VARIABLES LIKE 'sql_mode'", 0, PIN_NONE, 1},
    {"SHOW STATUS", 0, PIN_NONE, 1},
    {"DESCRIBE t", 0, PIN_NONE, 1},
    {"DESC t", 0, PIN_NONE, 1},
    {"EXPLAIN SELECT * FROM t", 0, PIN_NONE, 1},
    {"EXPLAIN FORMAT=JSON UPDATE t SET a=1", 0, PIN_NONE, 1},
    {"EXPLAIN ANALYZE SELECT * FROM t", 0, PIN_NONE, 1},
    {"EXPLAIN ANALYZE DELETE FROM t", W, PIN_NONE, 1},
    {"ANALYZE SELECT * FROM t", 0, PIN_NONE, 1},
    {"ANALYZE FORMAT=JSON SELECT 1", 0, PIN_NONE, 1},
    {"ANALYZE DELETE FROM t WHERE a=1", W, PIN_NONE, 1},
    {"ANALYZE TABLE t", W, PIN_NONE, 1},
    {"ANALYZE NO_WRITE_TO_BINLOG TABLE t", W, PIN_NONE, 1},
    {"HELP 'contents'", 0, PIN_NONE, 1},
    {"WITH c AS (SELECT 1) SELECT * FROM c", 0, PIN_NONE, 1},
    {"WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c WHERE n<5) SELECT * FROM c", 0, PIN_NONE, 1},
    {"WITH c AS (SELECT id FROM t) UPDATE t JOIN c USING (id) SET t.a=1", W, PIN_NONE, 1},
    {"WITH c AS (SELECT 1) DELETE FROM t WHERE id IN (SELECT * FROM c)", W, PIN_NONE, 1},
    {"WITH c AS (SELECT 1) SELECT @v := 1 FROM c", 0, PIN_USER_VAR, 1},
    {"VALUES ROW(1,2), ROW(3,4)", 0, PIN_NONE, 1},
    {"TABLE t", 0, PIN_NONE, 1},
    {"TABLE t ORDER BY a LIMIT 1", 0, PIN_NONE, 1},
    {"DO 1+1", 0, PIN_NONE, 1},
    {"DO SLEEP(1)", 0, PIN_NONE, 1},
    {"DO GET_LOCK('x', 10)", 0, PIN_GET_LOCK, 1},
    {"SELECT a FROM t INTO OUTFILE '/tmp/x'", 0, PIN_NONE, 1},
    {"SELECT a INTO DUMPFILE '/tmp/x' FROM t", 0, PIN_NONE, 1},
    {"SELECT 'FOR UPDATE'", 0, PIN_NONE, 1},
    {"SELECT /*!40001 SQL_NO_CACHE */ * FROM t", 0, PIN_NONE, 1},
    {"SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM t", 0, PIN_NONE, 1},

    /* locking reads write */
    {"SELECT * FROM t FOR UPDATE", W, PIN_NONE, 1},
    {"SELECT * FROM t WHERE id=1 FOR SHARE", W, PIN_NONE, 1},
    {"SELECT * FROM t LOCK IN SHARE MODE", W, PIN_NONE, 1},
    {"SELECT * FROM t FOR UPDATE SKIP LOCKED", W, PIN_NONE, 1},
    {"select * from t for update nowait", W, PIN_NONE, 1},
    {"SELECT 1 /*!50000 FOR UPDATE */", W, PIN_NONE, 1},
    {"SELECT * FROM `lock` FOR UPDATE", W, PIN_NONE, 1},

    /* writes */
    {"INSERT INTO t VALUES (1)", W | INS, PIN_NONE, 1},
    {"insert into t (a) select a from u", W | INS, PIN_NONE, 1},
    {"REPLACE INTO t VALUES (1)", W | INS, PIN_NONE, 1},
    {"INSERT INTO t SET a=1", W | INS, PIN_NONE, 1},
    {"INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a=VALUES(a)", W | INS, PIN_NONE, 1},
    {"INSERT INTO t VALUES(1)ON DUPLICATE KEY UPDATE a=1", W | INS, PIN_NONE, 1},
    {"INSERT INTO log VALUES ('SET @x = 1; LOCK TABLES t READ')", W | INS, PIN_NONE, 1},
    {"UPDATE t SET a=1", W, PIN_NONE, 1},
    {"UPDATE t SET a = @x WHERE b = @y", W, PIN_NONE, 1},
    {"DELETE FROM t", W, PIN_NONE, 1},
    {"TRUNCATE TABLE t", W, PIN_NONE, 1},
    {"CREATE TABLE t (a INT)", W, PIN_NONE, 1},
    {"CREATE TABLE t AS SELECT * FROM u", W, PIN_NONE, 1},
    {"CREATE TABLE IF NOT EXISTS t (a INT)", W, PIN_NONE, 1},
    {"CREATE TABLE temporary_stuff (a INT)", W, PIN_NONE, 1},
    {"CREATE TABLE `temporary` (a INT)", W, PIN_NONE, 1},
    {"CREATE TABLE t (`temporary` INT)", W, PIN_NONE, 1},
    {"CREATE INDEX i ON t (a)", W, PIN_NONE, 1},
    {"CREATE DATABASE d", W, PIN_NONE, 1},
    {"CREATE VIEW v AS SELECT 1", W, PIN_NONE, 1},
    {"CREATE OR REPLACE ALGORITHM=MERGE DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW v AS "
     "SELECT 1",
     W, PIN_NONE, 1},
    {"ALTER TABLE t ADD COLUMN b INT", W, PIN_NONE, 1},
    {"DROP TABLE t", W, PIN_NONE, 1},
    {"DROP TABLE IF EXISTS t, u", W, PIN_NONE, 1},
    {"RENAME TABLE a TO b", W, PIN_NONE, 1},
    {"GRANT SELECT ON db.* TO 'u'@'%'", W, PIN_NONE, 1},
    {"GRANT ALL ON db.* TO bob@localhost", W, PIN_NONE, 1},
    {"REVOKE ALL ON *.* FROM u@localhost", W, PIN_NONE, 1},
    {"CREATE USER 'bob'@'localhost' IDENTIFIED BY 'x'", W, PIN_NONE, 1},
    {"CALL p(1, @out)", W, PIN_NONE, 1},
    {"CALL p()", W, PIN_NONE, 1},
    {"OPTIMIZE TABLE t", W, PIN_NONE, 1},
    {"REPAIR TABLE t", W, PIN_NONE, 1},
    {"CHECK TABLE t", W, PIN_NONE, 1},
    {"FLUSH PRIVILEGES", W, PIN_NONE, 1},
    {"FLUSH LOGS", W, PIN_NONE, 1},
    {"DEALLOCATE PREPARE s", W, PIN_NONE, 1},
    {"DROP PREPARE s", W, PIN_NONE, 1},
    {"EXECUTE s", W, PIN_NONE, 1},
    {"EXECUTE s USING @a, @b", W, PIN_NONE, 1},
    {"INSTALL PLUGIN x SONAME 'x.so'", W, PIN_NONE, 1},
    {"PURGE BINARY LOGS TO 'mysql-bin.000010'", W, PIN_NONE, 1},
    {"SHUTDOWN", W, PIN_NONE, 1},
    {"START SLAVE", W, PIN_NONE, 1},
    {"START REPLICA", W, PIN_NONE, 1},
    {"CHANGE MASTER TO MASTER_HOST='h'", W, PIN_NONE, 1},
    {"RESET QUERY CACHE", W, PIN_NONE, 1},
    {"BINLOG 'abc'", W, PIN_NONE, 1},
    {"SIGNAL SQLSTATE '45000'", W, PIN_NONE, 1},
    {"CACHE INDEX t IN hot", W, PIN_NONE, 1},
    {"LOAD INDEX INTO CACHE t", W, PIN_NONE, 1},
    {"IMPORT TABLE FROM '/tmp/t.sdi'", W, PIN_NONE, 1},
    {"BEGIN NOT ATOMIC SELECT 1; END", W, PIN_NONE, 1},
    {"1", W, PIN_NONE, 1},
    {"'abc'", W, PIN_NONE, 1},
    {"@x", W, PIN_NONE, 1},
    {"+", W, PIN_NONE, 1},
    {"foo bar baz", W, PIN_NONE, 1},
    {"`select` 1", W, PIN_NONE, 1},

    /* transactions */
    {"BEGIN", TB, PIN_NONE, 1},
    {"begin work", TB, PIN_NONE, 1},
    {"BEGIN;", TB, PIN_NONE, 1},
    {"START TRANSACTION", TB, PIN_NONE, 1},
    {"START TRANSACTION READ ONLY", TB, PIN_NONE, 1},
    {"START TRANSACTION READ WRITE", TB, PIN_NONE, 1},
    {"START TRANSACTION WITH CONSISTENT SNAPSHOT", TB, PIN_NONE, 1},
    {"start transaction with consistent snapshot, read only", TB, PIN_NONE, 1},
    {"COMMIT", TE, PIN_NONE, 1},
    {"COMMIT WORK", TE, PIN_NONE, 1},
    {"COMMIT AND CHAIN", TE, PIN_NONE, 1},
    {"COMMIT AND NO CHAIN NO RELEASE", TE, PIN_NONE, 1},
    {"COMMIT RELEASE", TE, PIN_NONE, 1},
    {"ROLLBACK", TE, PIN_NONE, 1},
    {"ROLLBACK WORK", TE, PIN_NONE, 1},
    {"ROLLBACK AND NO CHAIN", TE, PIN_NONE, 1},
    {"ROLLBACK TO SAVEPOINT sp1", 0, PIN_NONE, 1},
    {"ROLLBACK TO sp1", 0, PIN_NONE, 1},
    {"ROLLBACK WORK TO SAVEPOINT sp1", 0, PIN_NONE, 1},
    {"SAVEPOINT sp1", 0, PIN_NONE, 1},
    {"RELEASE SAVEPOINT sp1", 0, PIN_NONE, 1},
    {"BEGIN; INSERT INTO t VALUES (1); COMMIT", TB | W | INS | TE | MU, PIN_NONE, 3},
    {"XA START 'x'", W | TB, PIN_XA, 1},
    {"XA BEGIN 'x'", W | TB, PIN_XA, 1},
    {"XA END 'x'", W, PIN_XA, 1},
    {"XA PREPARE 'x'", W, PIN_XA, 1},
    {"XA COMMIT 'x'", W, PIN_XA, 1},
    {"XA ROLLBACK 'x'", W, PIN_XA, 1},
    {"XA RECOVER", W, PIN_XA, 1},

    /* SET of session state */
    {"SET autocommit=1", ST, PIN_NONE, 1},
    {"SET autocommit = 0", ST, PIN_NONE, 1},
    {"SET @@autocommit=0", ST, PIN_NONE, 1},
    {"SET @@session.sql_mode='ANSI'", ST, PIN_NONE, 1},
    {"SET @@SESSION.SQL_MODE = 'ANSI'", ST, PIN_NONE, 1},
    {"SET @@local.time_zone='+00:00'", ST, PIN_NONE, 1},
    {"SET SESSION sql_mode=''", ST, PIN_NONE, 1},
    {"SET LOCAL sql_mode=''", ST, PIN_NONE, 1},
    {"set session autocommit := 1", ST, PIN_NONE, 1},
    {"SET sql_mode=(SELECT @@sql_mode)", ST, PIN_NONE, 1},
    {"SET sql_mode = CONCAT(@@sql_mode, ',STRICT_TRANS_TABLES')", ST, PIN_NONE, 1},
    {"SET sql_mode=REPLACE(@@sql_mode, 'ONLY_FULL_GROUP_BY', ''), autocommit=1", ST, PIN_NONE, 1},
    {"SET time_zone = '+00:00', autocommit = 1, sql_mode = 'STRICT_ALL_TABLES'", ST, PIN_NONE, 1},
    {"SET max_execution_time = 1000", ST, PIN_NONE, 1},
    {"SET SESSION max_statement_time = 2.5", ST, PIN_NONE, 1},
    {"SET innodb_lock_wait_timeout=50", ST, PIN_NONE, 1},
    {"SET tx_isolation='READ-COMMITTED'", ST, PIN_NONE, 1},
    {"SET transaction_read_only=OFF", ST, PIN_NONE, 1},
    {"SET sql_select_limit=DEFAULT", ST, PIN_NONE, 1},
    {"SET `autocommit` = 1", ST, PIN_NONE, 1},
    {"SET `auto``commit` = 1", 0, PIN_UNTRACKED_VAR, 1},
    {"SET `autocommit", 0, PIN_UNTRACKED_VAR, 1},
    {"SET `autocommit`", ST, PIN_NONE, 1},
    {"SET names utf8mb4", ST | CS, PIN_NONE, 1},
    {"SET NAMES 'utf8mb4' COLLATE 'utf8mb4_unicode_ci'", ST | CS, PIN_NONE, 1},
    {"SET NAMES utf8mb4, autocommit=1", ST | CS, PIN_NONE, 1},
    {"SET NAMES utf8, @a = 1", ST | CS, PIN_USER_VAR, 1},
    {"SET CHARACTER SET utf8", ST | CS, PIN_NONE, 1},
    {"SET CHARSET utf8", ST | CS, PIN_NONE, 1},
    {"SET character_set_results = NULL", ST, PIN_NONE, 1},
    {"SET character_set_database = utf8", 0, PIN_NONE, 1},
    {"SET collation_database = 'utf8_bin'", 0, PIN_NONE, 1},
    {"SET character_set_database = utf8, autocommit = 1", ST, PIN_NONE, 1},
    {"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", ST, PIN_NONE, 1},
    {"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", TO, PIN_NONE, 1},
    {"SET TRANSACTION READ ONLY", TO, PIN_NONE, 1},
    {"SET TRANSACTION ISOLATION LEVEL READ COMMITTED, READ WRITE", TO, PIN_NONE, 1},
    {"SET GLOBAL TRANSACTION ISOLATION LEVEL READ COMMITTED", SG, PIN_NONE, 1},
    {"SET GLOBAL max_connections=1000", SG, PIN_NONE, 1},
    {"SET @@global.max_connections=1000", SG, PIN_NONE, 1},
    {"SET @@GLOBAL.sql_mode=''", SG, PIN_NONE, 1},
    {"SET PERSIST max_connections=1000", SG, PIN_NONE, 1},
    {"SET PERSIST_ONLY max_connections=1000", SG, PIN_NONE, 1},
    {"SET @@persist.max_connections=1000", SG, PIN_NONE, 1},
    {"SET GLOBAL a=1, b=2", SG, PIN_NONE, 1},
    {"SET GLOBAL wait_timeout=1, SESSION wait_timeout=2", SG | ST, PIN_NONE, 1},
    {"SET GLOBAL wait_timeout=1, @@sql_mode=''", SG | ST, PIN_NONE, 1},
    {"SET GLOBAL wait_timeout=1, @@foo=1", SG, PIN_UNTRACKED_VAR, 1},
    {"SET @@global.wait_timeout=1, foo=1", SG, PIN_UNTRACKED_VAR, 1},
    {"SET GLOBAL hot_cache.key_buffer_size = 1", SG, PIN_NONE, 1},
    {"SET SESSION wait_timeout=10, @a=1", ST, PIN_USER_VAR, 1},
    {"SET sql_log_bin = 0", 0, PIN_UNTRACKED_VAR, 1},
    {"SET SESSION sql_log_bin = 0", 0, PIN_UNTRACKED_VAR, 1},
    {"SET @@session.optimizer_switch='index_merge=on'", 0, PIN_UNTRACKED_VAR, 1},
    {"SET autocommit=1, sql_log_bin=0", ST, PIN_UNTRACKED_VAR, 1},
    {"SET sql_log_bin=0, @a=1", 0, PIN_UNTRACKED_VAR, 1},
    {"SET default.key_buffer_size = 1", 0, PIN_UNTRACKED_VAR, 1},
    {"SET last_insert_id = 5", 0, PIN_UNTRACKED_VAR, 1},
    {"SET insert_id = 5", 0, PIN_UNTRACKED_VAR, 1},
    {"SET @@last_insert_id = 5", 0, PIN_UNTRACKED_VAR, 1},
    {"SET timestamp = 1", 0, PIN_UNTRACKED_VAR, 1},
    {"SET ROLE ALL", 0, PIN_UNTRACKED_VAR, 1},
    {"SET ROLE NONE", 0, PIN_UNTRACKED_VAR, 1},
    {"SET RESOURCE GROUP rg", 0, PIN_UNTRACKED_VAR, 1},
    {"SET PASSWORD = 'x'", W, PIN_NONE, 1},
    {"SET PASSWORD FOR 'u'@'h' = 'x'", W, PIN_NONE, 1},
    {"SET DEFAULT ROLE ALL TO 'u'@'h'", W, PIN_NONE, 1},
    {"SET", W, PIN_NONE, 1},
    {"SET 1 = 2", W, PIN_NONE, 1},
    {"SET sql_mode = GET_LOCK('x', 1)", ST, PIN_GET_LOCK, 1},
    {"SET autocommit = @x := 1", ST, PIN_USER_VAR, 1},
    {"SET wait_timeout = (SELECT COUNT(*) FROM t WHERE a IN (1, 2)), autocommit = 1", ST, PIN_NONE, 1},

    /* SET of user variables */
    {"SET @a=1", 0, PIN_USER_VAR, 1},
    {"SET @a := 1", 0, PIN_USER_VAR, 1},
    {"SET @`my var` = 1", 0, PIN_USER_VAR, 1},
    {"SET @'x' = 1", 0, PIN_USER_VAR, 1},
    {"SET @\"x\" = 1", 0, PIN_USER_VAR, 1},
    {"SET @a = 1, @b = 2", 0, PIN_USER_VAR, 1},
    {"SET @a=1, sql_log_bin=0", 0, PIN_USER_VAR, 1},
    {"SET @a = GET_LOCK('x', 1)", 0, PIN_USER_VAR, 1},
    {"SET @x = LAST_INSERT_ID()", LI, PIN_USER_VAR, 1},

    /* MariaDB SET STATEMENT ... FOR: only the inner statement counts */
    {"SET STATEMENT max_statement_time=1 FOR SELECT * FROM t", 0, PIN_NONE, 1},
    {"SET STATEMENT sql_log_bin=0, foo=(1,2) FOR INSERT INTO t VALUES (1)", W | INS, PIN_NONE, 1},
    {"SET STATEMENT max_statement_time=1 FOR SET @a = 1", 0, PIN_USER_VAR, 1},
    {"SET STATEMENT max_statement_time=1 FOR SELECT GET_LOCK('a', 1)", 0, PIN_GET_LOCK, 1},
    {"SET STATEMENT x=1", W, PIN_NONE, 1},

    /* executable comments are code, plain comments are not */
    {"/*!40101 SET NAMES utf8 */", ST | CS, PIN_NONE, 1},
    {"/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */", 0, PIN_USER_VAR, 1},
    {"/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */", ST, PIN_USER_VAR, 1},
    {"/*!40103 SET TIME_ZONE='+00:00' */", ST, PIN_NONE, 1},
    {"/*!40101 SET @x=1 */", 0, PIN_USER_VAR, 1},
    {"/* SET @x=1 */", EM, PIN_NONE, 0},
    {"/* SET @x=1 */ SELECT 1", 0, PIN_NONE, 1},
    {"/*!SET @x=1*/", 0, PIN_USER_VAR, 1},
    {"/*M!100100 SET @x=1 */", 0, PIN_USER_VAR, 1},
    {"/*M!100100 SET sql_mode='' */", ST, PIN_NONE, 1},
    {"/*!40101 SET @x=1 */; SELECT 1", MU, PIN_USER_VAR, 2},
    {"/*!40101 SET @saved_cs_client = @@character_set_client */;\n"
     "/*!50503 SET character_set_client = utf8mb4 */",
     ST | MU, PIN_USER_VAR, 2},
    {"/*!50001 CREATE ALGORITHM=UNDEFINED */ /*!50013 DEFINER=`root`@`localhost` SQL SECURITY "
     "DEFINER */ /*!50001 VIEW v AS SELECT 1 */",
     W, PIN_NONE, 1},
    {"/*!40000 ALTER TABLE `t` DISABLE KEYS */", W, PIN_NONE, 1},
    {"SELECT /*!GET_LOCK('a',1) */", 0, PIN_GET_LOCK, 1},
    {"SELECT /*! ; */ 1", W | MU, PIN_NONE, 2},
    {"SELECT 1 /*!50000 ; SET @a = 1 */", MU, PIN_USER_VAR, 2},
    {"/*!40101 SET @a=1", 0, PIN_USER_VAR, 1},
    {"/*!*/", EM, PIN_NONE, 0},
    {"/*!40101 */;", EM, PIN_NONE, 0},

    /* user variables: assignments pin, reads do not */
    {"SELECT @a := 1", 0, PIN_USER_VAR, 1},
    {"SELECT@a:=1", 0, PIN_USER_VAR, 1},
    {"SELECT @a = 1", 0, PIN_NONE, 1},
    {"SELECT @a", 0, PIN_NONE, 1},
    {"SELECT * FROM t WHERE id = @id", 0, PIN_NONE, 1},
    {"SELECT 1 INTO @a", 0, PIN_USER_VAR, 1},
    {"SELECT 1 INTO@a", 0, PIN_USER_VAR, 1},
    {"SELECT a, b INTO @x, @y FROM t LIMIT 1", 0, PIN_USER_VAR, 1},
    {"SELECT a FROM t INTO @x", 0, PIN_USER_VAR, 1},
    {"UPDATE t SET a = (@n := @n + 1)", W, PIN_USER_VAR, 1},
    {"SELECT @rownum := @rownum + 1 AS r FROM t", 0, PIN_USER_VAR, 1},
    {"SELECT @`x` := 1", 0, PIN_USER_VAR, 1},
    {"SELECT @'x' := 1", 0, PIN_USER_VAR, 1},
    {"INSERT INTO t VALUES (@a := 5)", W | INS, PIN_USER_VAR, 1},
    {"SELECT '@a := 1'", 0, PIN_NONE, 1},
    {"SELECT a AS `@x := 1` FROM t", 0, PIN_NONE, 1},
    {"SELECT @@session.sql_mode", 0, PIN_NONE, 1},
    {"SELECT @@sql_mode, @@time_zone", 0, PIN_NONE, 1},

    /* GET_LOCK() anywhere */
    {"SELECT GET_LOCK('a', 0)", 0, PIN_GET_LOCK, 1},
    {"SELECT GET_LOCK ('a', 0)", 0, PIN_GET_LOCK, 1},
    {"select get_lock('a',0)", 0, PIN_GET_LOCK, 1},
    {"SeLeCt GeT_LoCk('a', 1)", 0, PIN_GET_LOCK, 1},
    {"SELECT Get_Lock\n(\n'a', 0)", 0, PIN_GET_LOCK, 1},
    {"SELECT IF(GET_LOCK('a', 0), 1, 0)", 0, PIN_GET_LOCK, 1},
    {"SELECT RELEASE_LOCK('a')", 0, PIN_NONE, 1},
    {"SELECT IS_FREE_LOCK('a')", 0, PIN_NONE, 1},
    {"SELECT get_lock FROM t", 0, PIN_NONE, 1},
    {"SELECT `get_lock` FROM t", 0, PIN_NONE, 1},
    /* a backticked name followed by '(' calls the native function in the
     * server (function_call_generic takes IDENT_sys), so it pins too */
    {"SELECT `get_lock`('a', 0)", 0, PIN_GET_LOCK, 1},
    /* a qualified name is a stored function; pinned all the same */
    {"SELECT db.get_lock('a', 0)", 0, PIN_GET_LOCK, 1},
    {"SELECT 'GET_LOCK(1)'", 0, PIN_NONE, 1},
    {"SELECT \"GET_LOCK(1)\"", 0, PIN_NONE, 1},
    {"SELECT 1 -- GET_LOCK('a',1)", 0, PIN_NONE, 1},
    {"SELECT 1 # GET_LOCK('a',1)", 0, PIN_NONE, 1},
    {"SELECT /* GET_LOCK('a',1) */ 1", 0, PIN_NONE, 1},
    {"SELECT GET_LOCK('a', 0); SELECT @x := 1", MU, PIN_GET_LOCK, 2},
    {"SELECT @x := 1, GET_LOCK('a', 0)", 0, PIN_USER_VAR, 1},

    /* found rows, row count, last insert id */
    {"SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 10", 0, PIN_CALC_FOUND_ROWS, 1},
    {"SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 10; SELECT FOUND_ROWS()", MU | FR, PIN_CALC_FOUND_ROWS, 2},
    {"SELECT `SQL_CALC_FOUND_ROWS` FROM t", 0, PIN_NONE, 1},
    {"SELECT FOUND_ROWS()", FR, PIN_NONE, 1},
    {"select found_rows ( )", FR, PIN_NONE, 1},
    {"SELECT ROW_COUNT()", RC, PIN_NONE, 1},
    {"SELECT row_count FROM t", 0, PIN_NONE, 1},
    {"SELECT LAST_INSERT_ID()", LI, PIN_NONE, 1},
    {"SELECT last_insert_id( )", LI, PIN_NONE, 1},
    {"SELECT LAST_INSERT_ID(5)", 0, PIN_LAST_INSERT_ID_EXPR, 1},
    {"UPDATE seq SET id = LAST_INSERT_ID(id + 1)", W, PIN_LAST_INSERT_ID_EXPR, 1},
    {"INSERT INTO t VALUES (1); SELECT LAST_INSERT_ID()", W | INS | LI | MU, PIN_NONE, 2},
    {"SELECT @@last_insert_id", LI, PIN_NONE, 1},
    {"SELECT @@identity", LI, PIN_NONE, 1},
    {"SELECT @@IDENTITY", LI, PIN_NONE, 1},
    {"SELECT @@session.last_insert_id", LI, PIN_NONE, 1},
    {"SELECT last_insert_id FROM t", 0, PIN_NONE, 1},

    /* diagnostics */
    {"SHOW WARNINGS", DG, PIN_NONE, 1},
    {"SHOW WARNINGS LIMIT 10", DG, PIN_NONE, 1},
    {"SHOW ERRORS", DG, PIN_NONE, 1},
    {"show count(*) warnings", DG, PIN_NONE, 1},
    {"SHOW COUNT ( * ) ERRORS", DG, PIN_NONE, 1},
    {"SELECT @@warning_count", DG, PIN_NONE, 1},
    {"SELECT @@session.error_count", DG, PIN_NONE, 1},
    {"GET DIAGNOSTICS @n = NUMBER", DG, PIN_USER_VAR, 1},
    {"GET CURRENT DIAGNOSTICS CONDITION 1 @s = RETURNED_SQLSTATE, @m = MESSAGE_TEXT", DG, PIN_USER_VAR, 1},
    {"GET STACKED DIAGNOSTICS CONDITION 1 @s = RETURNED_SQLSTATE", DG, PIN_USER_VAR, 1},
    {"GET something", W, PIN_NONE, 1},

    /* KILL, USE */
    {"KILL 42", W | KL, PIN_NONE, 1},
    {"KILL QUERY 42", W | KL, PIN_NONE, 1},
    {"KILL CONNECTION 42", W | KL, PIN_NONE, 1},
    {"KILL HARD QUERY 42", W | KL, PIN_NONE, 1},
    {"KILL SOFT 42", W | KL, PIN_NONE, 1},
    {"KILL QUERY ID 42", W | KL, PIN_NONE, 1},
    {"USE db", US, PIN_NONE, 1},
    {"use `my db`", US, PIN_NONE, 1},
    {"USE db; SELECT 1", US | MU, PIN_NONE, 2},

    /* temporary tables, locks, handlers, prepared statements */
    {"CREATE TEMPORARY TABLE t (a INT)", W, PIN_TEMP_TABLE, 1},
    {"create temporary table if not exists t select 1", W, PIN_TEMP_TABLE, 1},
    {"CREATE OR REPLACE TEMPORARY TABLE t (a INT)", W, PIN_TEMP_TABLE, 1},
    {"CREATE TEMPORARY TABLE t LIKE u", W, PIN_TEMP_TABLE, 1},
    {"CREATE TEMPORARY TABLE t AS SELECT GET_LOCK('a', 1)", W, PIN_TEMP_TABLE, 1},
    {"CREATE TEMPORARY SEQUENCE s", W, PIN_TEMP_TABLE, 1},
    {"DROP TEMPORARY TABLE t", W, PIN_NONE, 1},
    {"DROP TEMPORARY TABLE IF EXISTS t", W, PIN_NONE, 1},
    {"LOCK TABLES t READ", W, PIN_LOCK_TABLES, 1},
    {"LOCK TABLE t WRITE, u READ", W, PIN_LOCK_TABLES, 1},
    {"lock tables t read local", W, PIN_LOCK_TABLES, 1},
    {"UNLOCK TABLES", W, PIN_NONE, 1},
    {"LOCK INSTANCE FOR BACKUP", W, PIN_GLOBAL_LOCK, 1},
    {"UNLOCK INSTANCE", W, PIN_NONE, 1},
    {"FLUSH TABLES WITH READ LOCK", W, PIN_GLOBAL_LOCK, 1},
    {"FLUSH TABLES t1, t2 WITH READ LOCK", W, PIN_GLOBAL_LOCK, 1},
    {"FLUSH TABLE t FOR EXPORT", W, PIN_GLOBAL_LOCK, 1},
    {"FLUSH NO_WRITE_TO_BINLOG TABLES WITH READ LOCK", W, PIN_GLOBAL_LOCK, 1},
    {"FLUSH LOCAL TABLES t WITH READ LOCK AND DISABLE CHECKPOINT", W, PIN_GLOBAL_LOCK, 1},
    {"FLUSH TABLES", W, PIN_NONE, 1},
    {"FLUSH TABLES t", W, PIN_NONE, 1},
    {"BACKUP STAGE START", W, PIN_GLOBAL_LOCK, 1},
    {"BACKUP STAGE BLOCK_COMMIT", W, PIN_GLOBAL_LOCK, 1},
    {"BACKUP LOCK t", W, PIN_GLOBAL_LOCK, 1},
    {"BACKUP UNLOCK", W, PIN_NONE, 1},
    {"HANDLER t OPEN", W, PIN_HANDLER, 1},
    {"HANDLER t READ FIRST", W, PIN_HANDLER, 1},
    {"HANDLER t CLOSE", W, PIN_HANDLER, 1},
    {"PREPARE s FROM 'SELECT 1'", W, PIN_PREPARE_SQL, 1},
    {"PREPARE s FROM @sql", W, PIN_PREPARE_SQL, 1},
    {"EXECUTE IMMEDIATE 'SELECT 1'", W, PIN_PREPARE_SQL, 1},

    /* LOAD */
    {"LOAD DATA INFILE '/tmp/x' INTO TABLE t", W | INS, PIN_NONE, 1},
    {"LOAD DATA LOCAL INFILE 'x.csv' INTO TABLE t", W | INS | LL, PIN_NONE, 1},
    {"load data low_priority local infile 'x' into table t", W | INS | LL, PIN_NONE, 1},
    {"LOAD DATA CONCURRENT LOCAL INFILE 'x' REPLACE INTO TABLE t", W | INS | LL, PIN_NONE, 1},
    {"LOAD XML LOCAL INFILE 'x.xml' INTO TABLE t", W | INS | LL, PIN_NONE, 1},
    {"LOAD XML INFILE 'x.xml' INTO TABLE t", W | INS, PIN_NONE, 1},
    {"LOAD DATA INFILE 'local' INTO TABLE t", W | INS, PIN_NONE, 1},

    /* stored programs: the body is one statement and does not run now */
    {"CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END", W, PIN_NONE, 1},
    {"CREATE PROCEDURE p() BEGIN SET @x = 1; CREATE TEMPORARY TABLE t (a INT); END", W, PIN_NONE, 1},
    {"CREATE DEFINER=`root`@`localhost` PROCEDURE p(IN a INT) BEGIN IF a > 0 THEN SELECT 1; "
     "ELSEIF a < 0 THEN SELECT 2; ELSE SELECT 3; END IF; END",
     W, PIN_NONE, 1},
    {"CREATE DEFINER=CURRENT_USER() PROCEDURE p() BEGIN SELECT 1; END", W, PIN_NONE, 1},
    {"CREATE PROCEDURE p() BEGIN DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; "
     "END; START TRANSACTION; UPDATE t SET a = 1; COMMIT; END",
     W, PIN_NONE, 1},
    {"CREATE PROCEDURE p() BEGIN DECLARE c CURSOR FOR SELECT a FROM t; DECLARE CONTINUE HANDLER "
     "FOR SQLSTATE VALUE '02000', NOT FOUND SET @done = 1; OPEN c; END",
     W, PIN_NONE, 1},
    {"CREATE FUNCTION f(x INT) RETURNS INT DETERMINISTIC BEGIN DECLARE y INT DEFAULT 0; WHILE y < "
     "x DO SET y = y + 1; END WHILE; RETURN y; END",
     W, PIN_NONE, 1},
    {"CREATE FUNCTION f() RETURNS INT RETURN GET_LOCK('a', 1)", W, PIN_NONE, 1},
    {"CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; END", W, PIN_NONE, 1},
    {"CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1", W, PIN_NONE, 1},
    {"CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO BEGIN DELETE FROM t; END", W, PIN_NONE, 1},
    {"ALTER EVENT e DO BEGIN SELECT 1; END", W, PIN_NONE, 1},
    {"CREATE PROCEDURE p() BEGIN lbl: LOOP LEAVE lbl; END LOOP lbl; REPEAT SELECT 1; UNTIL 1 END "
     "REPEAT; CASE WHEN 1 THEN SELECT 1; ELSE SELECT CASE WHEN 1 THEN 2 END; END CASE; END; "
     "SELECT @x := 1",
     W | MU, PIN_USER_VAR, 2},
    {"CREATE PROCEDURE p() BEGIN SELECT 1; END; SET @a = 1", W | MU, PIN_USER_VAR, 2},
    {"/*!50003 CREATE*/ /*!50020 DEFINER=`root`@`localhost`*/ /*!50003 PROCEDURE p() BEGIN "
     "SELECT 1; END */",
     W, PIN_NONE, 1},
    /* no matching END: fall back to ';' and check everything */
    {"CREATE PROCEDURE p() BEGIN SELECT 1; SET @x=1", W | MU, PIN_USER_VAR, 2},
    {"CALL p(); CREATE PROCEDURE q() BEGIN END", W | MU, PIN_NONE, 2},

    /* MariaDB anonymous blocks run now: what is inside counts */
    {"BEGIN NOT ATOMIC SET @x = 1; END", W, PIN_USER_VAR, 1},
    {"BEGIN NOT ATOMIC DECLARE x INT DEFAULT 0; SELECT 1 INTO x; END", W, PIN_NONE, 1},
    {"BEGIN NOT ATOMIC DECLARE CONTINUE HANDLER FOR NOT FOUND SET @done = 1; SELECT 1; END", W, PIN_USER_VAR, 1},
    {"BEGIN NOT ATOMIC IF 1 THEN CREATE TEMPORARY TABLE t (a INT); END IF; END", W, PIN_TEMP_TABLE, 1},
    {"BEGIN NOT ATOMIC START TRANSACTION; INSERT INTO t VALUES (1); COMMIT; END", W | TB | INS | TE, PIN_NONE, 1},
    {"BEGIN NOT ATOMIC BEGIN SELECT 1; END; END; SELECT 2", W | MU, PIN_NONE, 2},
    {"IF @a THEN SELECT 1; ELSE SELECT 2; END IF", W, PIN_NONE, 1},
    {"lbl: BEGIN NOT ATOMIC LEAVE lbl; END", W, PIN_NONE, 1},
    {"WHILE 0 DO SELECT 1; END WHILE", W, PIN_NONE, 1},
    {"FOR i IN 1..3 DO SELECT GET_LOCK('a', 1); END FOR", W, PIN_GET_LOCK, 1},
    {"REPEAT SET @n = 1; UNTIL 1 END REPEAT", W, PIN_USER_VAR, 1},
    {"BEGIN NOT ATOMIC SELECT 1", W, PIN_NONE, 1},

    /* several statements, empty input */
    {"SELECT 1; SELECT 2", MU, PIN_NONE, 2},
    {"SELECT 1;;; SELECT 2;", MU, PIN_NONE, 2},
    {";", EM, PIN_NONE, 0},
    {";;;", EM, PIN_NONE, 0},
    {"", EM, PIN_NONE, 0},
    {"   \n\t ", EM, PIN_NONE, 0},
    {"/* only a comment */", EM, PIN_NONE, 0},
    {"-- only a comment", EM, PIN_NONE, 0},
    {"# only a comment", EM, PIN_NONE, 0},
    {"/* a */ ; -- b\n ; # c", EM, PIN_NONE, 0},
    {"SET autocommit=0; SET @a=1; SELECT 1", ST | MU, PIN_USER_VAR, 3},
    {"SET NAMES utf8; SET sql_mode=''; SET time_zone='+00:00'", ST | MU | CS, PIN_NONE, 3},
    {"SELECT 1; LOCK TABLES t READ; SELECT GET_LOCK('a',1)", W | MU, PIN_LOCK_TABLES, 3},
    {"SELECT 1; SET GLOBAL x = 1", SG | MU, PIN_NONE, 2},
    {"SET sql_log_bin=0; CREATE TEMPORARY TABLE t (a INT)", W | MU, PIN_UNTRACKED_VAR, 2},

    /* comments, quoting and spacing */
    {"SELECT 1--1", 0, PIN_NONE, 1},
    {"SELECT 1--1; SELECT 2", MU, PIN_NONE, 2},
    {"SELECT 1 -- ; SELECT @a := 2", 0, PIN_NONE, 1},
    {"SELECT 1 --\t; SELECT 2", 0, PIN_NONE, 1},
    {"SELECT 1 --\n; SELECT @a:=1", MU, PIN_USER_VAR, 2},
    {"SELECT 1 --", 0, PIN_NONE, 1},
    {"SELECT 1 # ; SET @a=1\n; SELECT 2", MU, PIN_NONE, 2},
    {"SELECT ';'", 0, PIN_NONE, 1},
    {"SELECT \";\"", 0, PIN_NONE, 1},
    {"SELECT `a;b` FROM t", 0, PIN_NONE, 1},
    {"SELECT 'it''s; ok'", 0, PIN_NONE, 1},
    {"SELECT 'it\\'s; ok'", 0, PIN_NONE, 1},
    {"SELECT \"a\"\"b; c\"", 0, PIN_NONE, 1},
    {"SELECT `a``b; c`", 0, PIN_NONE, 1},
    {"SELECT 'a\\\\'; SET @a = 1", MU, PIN_USER_VAR, 2},
    {"SELECT 'unterminated; SET @a=1", 0, PIN_NONE, 1},
    {"SELECT \"unterminated", 0, PIN_NONE, 1},
    {"SELECT `unterminated", 0, PIN_NONE, 1},
    {"SELECT 1 /* unterminated; SET @a=1", 0, PIN_NONE, 1},
    {"SELECT /* ; */ 1", 0, PIN_NONE, 1},
    {"SELECT X'4D'; SELECT 0x1F; SELECT b'101'", MU, PIN_NONE, 3},
    {"SELECT 1.5e-3, N'abc', _utf8mb4'abc' COLLATE utf8mb4_bin, 'a' 'b'", 0, PIN_NONE, 1},
    {"\n\n  SELECT\n1\n", 0, PIN_NONE, 1},
    {"SELECT\t1", 0, PIN_NONE, 1},
    {"SELECT*FROM t", 0, PIN_NONE, 1},

    /* a mask compares only some flags */
    {"INSERT INTO t SELECT @v := 1; SELECT 2", W, PIN_USER_VAR, 2, W},
    {"SET autocommit=0; BEGIN", TB | ST, PIN_NONE, 2, TB | ST},
};
#pragma GCC diagnostic pop

static void test_classify_table(void)
{
    const size_t n = sizeof(cls_cases) / sizeof(cls_cases[0]);

    CHECK(n >= 220, "only %zu classifier cases", n);
    for (size_t i = 0; i < n; i++) {
        const struct cls_case *c = &cls_cases[i];
        const size_t len = strlen(c->sql);
        const uint32_t mask = c->mask ? c->mask : ~0u;
        char *copy = malloc(len ? len : 1); /* exact size, no NUL: overreads trip ASan */
        struct cls_result r;

        memcpy(copy, c->sql, len);
        cls_classify(copy, len, &r);
        free(copy);
        CHECK((r.flags & mask) == (c->flags & mask) && r.pin == c->pin && r.n_stmts == c->n,
              "[%s]: flags 0x%x pin %s n %u, want flags 0x%x pin %s n %d", c->sql, (unsigned)(r.flags & mask),
              cls_pin_str(r.pin), r.n_stmts, (unsigned)(c->flags & mask), cls_pin_str(c->pin), c->n);
    }
}

/* Render the token stream of sql[0..len) as "T:text" items separated by
 * single spaces (bare text for ; ( ) , ?). */
static void render(const char *sql, size_t len, char *out, size_t cap)
{
    static const char tag[] = {
        [LEX_WORD] = 'W',     [LEX_QIDENT] = 'Q',  [LEX_STRING] = 'S', [LEX_NUMBER] = 'N',
        [LEX_USER_VAR] = 'U', [LEX_SYS_VAR] = 'V', [LEX_OP] = 'O',
    };
    struct lexer lx;
    struct lex_token t;
    size_t used = 0;

    out[0] = '\0';
    lex_init(&lx, sql, len);
    while (lex_next(&lx, &t) != LEX_EOF && used < cap) {
        const char *sep = used ? " " : "";
        int k = tag[t.type] ? snprintf(out + used, cap - used, "%s%c:%.*s", sep, tag[t.type], (int)t.len, t.p)
                            : snprintf(out + used, cap - used, "%s%.*s", sep, (int)t.len, t.p);
        used += (size_t)k;
    }
}

/* One lexer case: input and its rendered token stream. */
struct lex_case {
    const char *sql;  /* input text */
    const char *want; /* render() of its tokens */
};

static const struct lex_case lex_cases[] = {
    {"SELECT 1", "W:SELECT N:1"},
    {"select a.b from `t``x`", "W:select W:a O:. W:b W:from Q:`t``x`"},
    {"'a''b' \"c\\\"d\"", "S:'a''b' S:\"c\\\"d\""},
    {"@a @'b c' @\"d\" @`e` @a.b$ @", "U:@a U:@'b c' U:@\"d\" U:@`e` U:@a.b$ O:@"},
    {"@@x @@session.sql_mode @@GLOBAL.x @@local.y.z @@", "V:@@x V:@@session.sql_mode V:@@GLOBAL.x "
                                                         "V:@@local.y.z V:@@"},
    {"@@x.", "V:@@x O:."},
    {"0x1F 1.5e-3 12 1e10 X'4D' b'01' 0b11 1abc .5",
     "N:0x1F N:1.5e-3 N:12 N:1e10 S:X'4D' S:b'01' N:0b11 W:1abc O:. N:5"},
    {"1. 1e 1e+ 0x 0xZZ 2E-7", "N:1. W:1e W:1e O:+ W:0x W:0xZZ N:2E-7"},
    {"a:=1", "W:a O::= N:1"},
    {"a<=>b<=c->>'$' != d <> e || f && g << 1 >> 2 -> h", "W:a O:<=> W:b O:<= W:c O:->> S:'$' O:!= W:d "
                                                          "O:<> W:e O:|| W:f O:&& W:g O:<< N:1 O:>> "
                                                          "N:2 O:-> W:h"},
    {"a : b", "W:a O:: W:b"},
    {"1--1", "N:1 O:- O:- N:1"},
    {"1-- x\n2", "N:1 N:2"},
    {"1--\t\n2", "N:1 N:2"},
    {"--x", "O:- O:- W:x"},
    {"--", ""},
    {"-", "O:-"},
    {"1 #x\n2", "N:1 N:2"},
    {"1/*x*/2", "N:1 N:2"},
    {"1/**/2", "N:1 N:2"},
    {"1/*/2", "N:1"},
    {"/*!40101 SET x=1*/;", "W:SET W:x O:= N:1 ;"},
    {"/*M!100100 a */b", "W:a W:b"},
    {"/*!a*/ */", "W:a O:* O:/"},
    {"/*!a /* plain */ b */ c", "W:a W:b W:c"},
    {"/*!1234567 x */", "N:7 W:x"},
    {"/*!", ""},
    {"/*M", ""},
    {"?,(),;", "? , ( ) , ;"},
    {"'unterminated", "S:'unterminated"},
    {"/* unterminated", ""},
    {"\"a\\", "S:\"a\\"},
    {"'a\\'", "S:'a\\'"},
    {"`a", "Q:`a"},
    {"x'unterminated", "S:x'unterminated"},
    {"x 'y'", "W:x S:'y'"},
    {"$a b$ _c", "W:$a W:b$ W:_c"},
    {"\xc3\xa9t\xc3\xa9", "W:\xc3\xa9t\xc3\xa9"},
    {"SELECT\t\r\n\f\v1", "W:SELECT N:1"},
    {"*/", "O:* O:/"},
};

static void test_lexer_streams(void)
{
    char got[512];

    for (size_t i = 0; i < sizeof(lex_cases) / sizeof(lex_cases[0]); i++) {
        const struct lex_case *c = &lex_cases[i];
        const size_t len = strlen(c->sql);
        char *copy = malloc(len ? len : 1);

        memcpy(copy, c->sql, len);
        render(copy, len, got, sizeof(got));
        free(copy);
        CHECK(strcmp(got, c->want) == 0, "lex [%s]: got [%s], want [%s]", c->sql, got, c->want);
    }
}

static void test_lexer_edges(void)
{
    struct lexer lx;
    struct lex_token t;
    const char buf[] = "SELECT 1; SET @a=1";
    const char nul[] = "SELECT 1\0; SET @a = 1";
    struct cls_result r;

    /* EOF is sticky, empty, and at the end */
    lex_init(&lx, "x", 1);
    CHECK(lex_next(&lx, &t) == LEX_WORD && t.len == 1, "one word");
    for (int i = 0; i < 3; i++)
        CHECK(lex_next(&lx, &t) == LEX_EOF && t.len == 0 && t.p == lx.end, "EOF repeats");

    /* NULL text is the empty text */
    lex_init(&lx, NULL, 0);
    CHECK(lex_next(&lx, &t) == LEX_EOF, "NULL lexes as empty");
    cls_classify(NULL, 0, &r);
    CHECK(r.flags == EM && r.n_stmts == 0 && r.pin == PIN_NONE, "NULL classifies as empty");

    /* only len bytes count */
    cls_classify(buf, 9, &r);
    CHECK(r.flags == 0 && r.n_stmts == 1 && r.pin == PIN_NONE, "prefix of a buffer");
    cls_classify(buf, 8, &r);
    CHECK(r.flags == 0 && r.n_stmts == 1, "prefix without ';'");

    /* a NUL byte is an operator, not an end */
    cls_classify(nul, sizeof(nul) - 1, &r);
    CHECK(r.n_stmts == 2 && r.pin == PIN_USER_VAR, "embedded NUL: n %u pin %s", r.n_stmts, cls_pin_str(r.pin));
    /* found by fuzzing: a NUL inside a quoted name must not reach var_index() */
    cls_classify("SET `big_tables\0\0CEO` = 1", 25, &r);
    CHECK(r.pin == PIN_UNTRACKED_VAR, "NUL in a quoted variable name: pin %s", cls_pin_str(r.pin));
    cls_classify("C\261U\0\0"
                 "0; SET`big_tables\0\0CEO",
                 27, &r);
    CHECK(r.n_stmts == 2 && r.pin == PIN_UNTRACKED_VAR, "fuzz crash input");
    lex_init(&lx, "\0", 1);
    CHECK(lex_next(&lx, &t) == LEX_OP && t.len == 1, "NUL token");

    /* lex_is */
    lex_init(&lx, "select `select` selectx selec", 29);
    lex_next(&lx, &t);
    CHECK(lex_is(&t, "SELECT"), "lex_is case-insensitive");
    lex_next(&lx, &t);
    CHECK(!lex_is(&t, "SELECT") && t.type == LEX_QIDENT, "lex_is ignores quoted identifiers");
    lex_next(&lx, &t);
    CHECK(!lex_is(&t, "SELECT"), "lex_is: longer word");
    lex_next(&lx, &t);
    CHECK(!lex_is(&t, "SELECT"), "lex_is: shorter word");

    /* the executable-comment state resets with lex_init */
    lex_init(&lx, "/*!a", 4);
    lex_next(&lx, &t);
    CHECK(lx.in_exec_comment == 1, "inside executable comment");
    lex_init(&lx, "*/", 2);
    CHECK(lex_next(&lx, &t) == LEX_OP, "closing mark outside a comment is an operator");
}

static void test_pin_str(void)
{
    static const char *const want[PIN__COUNT] = {
        "none",         "user_variable",       "temporary_table",
        "lock_tables",  "global_lock",         "get_lock",
        "prepare_sql",  "sql_calc_found_rows", "handler",
        "xa",           "untracked_variable",  "last_insert_id_expr",
        "server_state", "protocol_command",    "row_count",
    };
    for (int p = 0; p < PIN__COUNT; p++)
        CHECK(want[p] && strcmp(cls_pin_str((enum cls_pin)p), want[p]) == 0, "pin %d is %s", p,
              cls_pin_str((enum cls_pin)p));
    CHECK(strcmp(cls_pin_str(PIN__COUNT), "unknown") == 0, "out of range pin");
    CHECK(strcmp(cls_pin_str((enum cls_pin) - 1), "unknown") == 0, "negative pin");
}

/* Text made of count copies of unit, heap-allocated without a NUL. */
static char *repeat(const char *unit, size_t count, size_t *len)
{
    const size_t u = strlen(unit);
    char *s = malloc(u * count + 1);

    for (size_t i = 0; i < count; i++)
        memcpy(s + i * u, unit, u);
    *len = u * count;
    return s;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Hostile shapes: deep nesting, huge counts; all must stay linear. */
static void test_pathological(void)
{
    static const struct {
        const char *unit; /* repeated text */
        size_t count;     /* how many copies */
        uint32_t flags;   /* flags the whole text has (under ~MU) */
        enum cls_pin pin; /* its pin */
    } cases[] = {
        {"SELECT 1;", 100000, 0, PIN_NONE},
        {"(", 1000000, 0, PIN_NONE},
        {")", 1000000, W, PIN_NONE},
        {"SET STATEMENT a=1 FOR ", 10000, W, PIN_NONE},
        {"ANALYZE ", 100000, W, PIN_NONE},
        {"BEGIN NOT ATOMIC ", 100000, W, PIN_NONE},
        {"CREATE PROCEDURE p() BEGIN ", 10000, W, PIN_NONE},
        {"IF 1 THEN ", 100000, W, PIN_NONE},
        {"SET @a = 1, ", 100000, W, PIN_USER_VAR},
        {"/*!", 100000, EM, PIN_NONE},
        {"'", 100001, W, PIN_NONE},
        {"@", 1000000, W, PIN_NONE},
        {"END; ", 100000, W, PIN_NONE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len;
        char *s = repeat(cases[i].unit, cases[i].count, &len);
        struct cls_result r;
        const double t0 = now_ns();

        cls_classify(s, len, &r);
        const double ms = (now_ns() - t0) / 1e6;
        free(s);
        CHECK((r.flags & ~MU) == cases[i].flags && r.pin == cases[i].pin, "[%s] x %zu: flags 0x%x pin %s",
              cases[i].unit, cases[i].count, (unsigned)r.flags, cls_pin_str(r.pin));
        CHECK(ms < 2000, "[%s] x %zu took %.1f ms", cases[i].unit, cases[i].count, ms);
    }

    /* the statement count saturates */
    size_t len;
    char *s = repeat("DO 1;", 70000, &len);
    struct cls_result r;
    cls_classify(s, len, &r);
    free(s);
    CHECK(r.n_stmts == UINT16_MAX && (r.flags & MU), "n_stmts saturates: %u", r.n_stmts);
}

/* Time a few typical queries; informative, with a bound loose enough for
 * sanitizer builds on a loaded machine. */
static void test_speed(void)
{
    static const char *const queries[] = {
        "SELECT id, name, email FROM users WHERE id = 42",
        "SET autocommit=1",
        "INSERT INTO orders (user_id, total) VALUES (?, ?)",
        "SELECT @@session.transaction_isolation, @@session.sql_mode",
    };
    const int rounds = 200000;

    for (size_t q = 0; q < sizeof(queries) / sizeof(queries[0]); q++) {
        const size_t len = strlen(queries[q]);
        struct cls_result r;
        uint32_t sink = 0;
        const double t0 = now_ns();

        for (int i = 0; i < rounds; i++) {
            cls_classify(queries[q], len, &r);
            sink += r.flags;
        }
        const double ns = (now_ns() - t0) / rounds;
        printf("  %6.0f ns  %s%s\n", ns, queries[q], sink == 0xffffffffu ? " " : "");
        CHECK(ns < 20000, "%s took %.0f ns", queries[q], ns);
    }
}

/* CONNECTION_ID() replaced by the proxy's id; whole select items keep the
 * column name the server would give them. */
static void test_rewrite_connection_id(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"SELECT 1", NULL},
        {"SELECT 'CONNECTION_ID()'", NULL},
        {"SELECT CONNECTION_ID", NULL},
        {"SELECT CONNECTION_ID()", "SELECT 42 AS `CONNECTION_ID()`"},
        {"select connection_id() ;", "select 42 AS `connection_id()` ;"},
        {"SELECT CONNECTION_ID() AS id", "SELECT 42 AS id"},
        {"SELECT CONNECTION_ID() id", "SELECT 42 id"},
        {"SELECT CONNECTION_ID() `x`", "SELECT 42 `x`"},
        {"SELECT a, CONNECTION_ID(), b FROM t", "SELECT a, 42 AS `CONNECTION_ID()`, b FROM t"},
        {"SELECT DISTINCT CONNECTION_ID() FROM t", "SELECT DISTINCT 42 AS `CONNECTION_ID()` FROM t"},
        {"SELECT CONNECTION_ID() + 1", "SELECT 42 + 1 AS `CONNECTION_ID() + 1`"},
        {"SELECT CONNECTION_ID() IS NOT NULL, 2", "SELECT 42 IS NOT NULL AS `CONNECTION_ID() IS NOT NULL`, 2"},
        {"SELECT CONCAT('id=', CONNECTION_ID()) c", "SELECT CONCAT('id=', 42) c"},
        {"SELECT CONCAT('id=', CONNECTION_ID())", "SELECT CONCAT('id=', 42) AS `CONCAT('id=', CONNECTION_ID())`"},
        {"SELECT 1 FROM t WHERE id = CONNECTION_ID()", "SELECT 1 FROM t WHERE id = 42"},
        {"KILL QUERY CONNECTION_ID()", "KILL QUERY 42"},
        {"INSERT INTO t VALUES (CONNECTION_ID())", "INSERT INTO t VALUES (42)"},
        {"SELECT (SELECT CONNECTION_ID()) AS s", "SELECT (SELECT 42 AS `CONNECTION_ID()`) AS s"},
        {"SELECT * FROM (SELECT CONNECTION_ID()) t", "SELECT * FROM (SELECT 42 AS `CONNECTION_ID()`) t"},
        {"SELECT `CONNECTION_ID`()", "SELECT 42 AS ```CONNECTION_ID``()`"},
        {"SELECT CONNECTION_ID(), CONNECTION_ID() x; SELECT CONNECTION_ID()",
         "SELECT 42 AS `CONNECTION_ID()`, 42 x; SELECT 42 AS `CONNECTION_ID()`"},
        {"SELECT /* c */ CONNECTION_ID ( ) -- x", "SELECT /* c */ 42 AS `CONNECTION_ID ( )` -- x"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rm_buf out = {0};
        int n = sql_rewrite_connection_id(cases[i].in, strlen(cases[i].in), 42, &out);
        if (!cases[i].out) {
            CHECK(n == 0 && out.len == 0, "'%s': rewritten (%d)", cases[i].in, n);
        } else {
            CHECK(n > 0 && out.len == strlen(cases[i].out) && memcmp(out.data, cases[i].out, out.len) == 0,
                  "'%s' -> '%.*s', expected '%s'", cases[i].in, (int)out.len, out.data ? (char *)out.data : "",
                  cases[i].out);
        }
        buf_free(&out);
    }
}

/* Digests for the slow-query log: shape kept, no value ever. */
static void test_digest(void)
{
    static const struct {
        const char *sql, *want;
    } cases[] = {
        {"SELECT c FROM sbtest1 WHERE id=42", "SELECT c FROM sbtest1 WHERE id=?"},
        {"SELECT  SLEEP(0.3),\n\t'x'", "SELECT SLEEP(?), ?"},
        {"select * from t where a in (1, 2, 3, 'x''y') and b = \"pw\" -- secret\n",
         "select * from t where a in (?, ...) and b = ?"},
        {"INSERT INTO t (a,b) VALUES (1,'a'),(2,'b')", "INSERT INTO t (a,b) VALUES (?, ...),(?, ...)"},
        {"SELECT `t`.a FROM db.t /* note */ WHERE x > 1e10 AND y = X'4D'",
         "SELECT `t`.a FROM db.t WHERE x > ? AND y = ?"},
        {"UPDATE t SET p='secret' WHERE id=7;", "UPDATE t SET p=? WHERE id=?;"},
        {"SET @a = 'hidden', @@session.sql_mode='X'", "SET @a = ?, @@session.sql_mode=?"},
        {"SELECT 'unterminated", "SELECT ?"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[256];
        size_t n = sql_digest(cases[i].sql, strlen(cases[i].sql), out, sizeof(out));
        CHECK(n == strlen(out) && strcmp(out, cases[i].want) == 0, "digest %zu: [%s], want [%s]", i, out,
              cases[i].want);
    }
    char small[24];
    const char *q = "select * from t where a in (1, 2, 3) and b = 'secret'";
    sql_digest(q, strlen(q), small, sizeof(small));
    CHECK(strlen(small) < sizeof(small) && strstr(small, "...") && !strstr(small, "secret"), "cut: [%s]", small);
}

int main(void)
{
    test_digest();
    test_rewrite_connection_id();
    test_classify_table();
    test_lexer_streams();
    test_lexer_edges();
    test_pin_str();
    test_pathological();
    test_speed();
    return unit_summary();
}
