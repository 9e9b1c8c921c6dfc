// One explicit-FTPS download with Apache Commons Net's FTPSClient, as a stock Java client makes it:
// AUTH TLS, PBSZ 0, PROT P, PASV, RETR, each data connection a fresh TLS handshake (FTPSClient
// does not resume the control connection's session). Used by test/e2e/ftps-java.test.ts.
// Arguments: host port user password remote-file local-file. Prints the last reply; exit 0 when
// the file arrived, 2 when the login failed, 3 when the transfer failed (the reply says why).
import java.io.FileOutputStream;
import java.io.OutputStream;
import org.apache.commons.net.ftp.FTP;
import org.apache.commons.net.ftp.FTPSClient;
import org.apache.commons.net.util.TrustManagerUtils;

public class FtpsDownload {
  public static void main(String[] args) throws Exception {
    FTPSClient client = new FTPSClient(false);
    // The test's own self-signed certificate for the gateway's address.
    client.setTrustManager(TrustManagerUtils.getAcceptAllTrustManager());
    client.setConnectTimeout(10_000);
    client.setDefaultTimeout(10_000);
    client.setDataTimeout(java.time.Duration.ofSeconds(10));
    try {
      client.connect(args[0], Integer.parseInt(args[1]));
      if (!client.login(args[2], args[3])) fail(client, 2);
      client.execPBSZ(0);
      client.execPROT("P");
      client.enterLocalPassiveMode();
      client.setFileType(FTP.BINARY_FILE_TYPE);
      boolean done;
      try (OutputStream out = new FileOutputStream(args[5])) {
        done = client.retrieveFile(args[4], out);
      }
      System.out.println("reply " + client.getReplyCode() + " " + client.getReplyString().trim());
      client.logout();
      System.exit(done ? 0 : 3);
    } catch (Exception error) {
      System.out.println("reply " + client.getReplyCode() + " " + String.valueOf(client.getReplyString()).trim());
      System.out.println("error " + error);
      System.exit(3);
    }
  }

  private static void fail(FTPSClient client, int code) {
    System.out.println("reply " + client.getReplyCode() + " " + client.getReplyString().trim());
    System.exit(code);
  }
}
