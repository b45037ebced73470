package clickstream.faults;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.execution.streaming.checkpointing.FileContextBasedCheckpointFileManager;

/**
 * Spark's default checkpoint file manager, plus the JVM side of the project's fault hook
 * (clickstream/faults.py): when CLICKSTREAM_FAULT arms "TABLE.checkpoint-commit", the armed time a
 * streaming query of TABLE starts to write its commits/N file, every process group of the command
 * is killed. At that moment the sink's Delta commit of batch N is in, the checkpoint's is not.
 */
public class FaultInjectingCheckpointFileManager extends FileContextBasedCheckpointFileManager {
  private static final String SUFFIX = ".checkpoint-commit";

  public FaultInjectingCheckpointFileManager(Path path, Configuration conf) {
    super(path, conf);
  }

  @Override
  public CancellableFSDataOutputStream createAtomic(Path path, boolean overwriteIfPossible) {
    String armed = System.getenv("CLICKSTREAM_FAULT");
    if (armed != null && path.getParent() != null && "commits".equals(path.getParent().getName())) {
      String point = armed.split("@", 2)[0];
      String table = point.endsWith(SUFFIX) ? point.substring(0, point.length() - SUFFIX.length()) : null;
      if (table != null && path.toString().contains(table)) {
        reached(point, armed.contains("@") ? Integer.parseInt(armed.split("@", 2)[1]) : 1);
      }
    }
    return super.createAtomic(path, overwriteIfPossible);
  }

  private static void reached(String point, int nth) {
    String dir = System.getenv("CLICKSTREAM_FAULT_DIR");
    if (dir == null) {
      return;
    }
    try {
      java.nio.file.Path hits = Paths.get(dir, point + ".hits");
      Files.write(hits, new byte[] {'.'}, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
      if (Files.size(hits) >= nth) {
        killCommand();
      }
    } catch (IOException | InterruptedException e) {
      throw new RuntimeException("fault hook failed at " + point, e);
    }
  }

  /** SIGKILL every recorded group of the command; this JVM's own group last. */
  private static void killCommand() throws IOException, InterruptedException {
    String own = ownProcessGroup();
    TreeSet<String> groups = new TreeSet<>();
    String recorded = System.getenv("CLICKSTREAM_FAULT_GROUPS");
    if (recorded != null) {
      for (String group : recorded.split(",")) {
        if (!group.isEmpty() && !group.equals(own)) {
          groups.add(group);
        }
      }
    }
    List<String> command = new ArrayList<>(List.of("kill", "-KILL", "--"));
    for (String group : groups) {
      command.add("-" + group);
    }
    command.add("-" + own);
    new ProcessBuilder(command).inheritIO().start().waitFor();
  }

  private static String ownProcessGroup() throws IOException {
    try (RandomAccessFile stat = new RandomAccessFile("/proc/self/stat", "r")) {
      String line = new String(stat.readLine().getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8);
      // pid (comm) state ppid pgrp ...: comm may hold spaces, so count from its closing paren.
      String[] rest = line.substring(line.lastIndexOf(')') + 2).split(" ");
      return rest[2];
    }
  }
}
