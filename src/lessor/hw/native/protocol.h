/* Generated from protocol.py (python -m lessor.hw.protocol): do not edit. */
#ifndef LESSOR_HW_PROTOCOL_H
#define LESSOR_HW_PROTOCOL_H
#define LHW_PROTOCOL_FILE "protocol"
#define LHW_PROTOCOL_LINE "lessor-hw 2"
#define LHW_PLAN_MAGIC "lessor-hw-plan 2"
#define LHW_PLAN_FILE "plan-%u"
#define LHW_DECISION_LOCK "state.lock"
#define LHW_QUEUE_DIR "queue"
#define LHW_USAGE_LOG "usage.log"
#define LHW_STATE_ENV "LESSOR_HW_STATE_DIR"
#define LHW_STATE_SHARED "/run/lessor/hw"
#define LHW_STATE_RUNTIME "%s/lessor/hw"
#define LHW_STATE_TMP "/tmp/lessor-hw-%u"
#define LHW_CPUS_ENV "LESSOR_CPUS"
#define LHW_PYTHON_CLI "lessor-python"
#define LHW_VALUE_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
#define LHW_INDEX "#"
#define LHW_RESERVATION "reservation"
#define LHW_RESERVE "reserve"
#define LHW_RELEASE "release"
#define LHW_VERSION 2
#define LHW_COMMAND_BYTES 1024
#define LHW_EXIT_OS_ERROR 71
#define LHW_EXIT_CANNOT_RUN 127
#define LHW_FAST_OPTIONS {"cores", "gpus", "nics", "numa", "profile"}
#endif
